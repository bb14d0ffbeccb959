"""BatchNorm folded into the convolution before it, for inference.

In eval mode `bn(conv(x))` is an affine map per output channel, so the convolution's weight and
bias can absorb it: w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta.
The BN module is then replaced by an identity. Pairs are found by the layout every model here uses:
siblings `convN` / `bnN`, and `[conv, bn, ...]` inside an nn.Sequential (ConvTranspose2d included).
Only BNs that follow their convolution directly in every forward are named this way; the
conformance equality tests (tests/test_fold_bn.py) check every model family.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def fold_batchnorm(module: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of `module` (eval mode) with every conv -> BN pair folded; `inplace=True` edits it."""
    if not inplace:
        module = copy.deepcopy(module)
    module.eval()
    for parent in list(module.modules()):
        for bn_name, conv in _pairs(parent):
            bn = getattr(parent, bn_name) if not isinstance(parent, nn.Sequential) else parent[int(bn_name)]
            _fold(conv, bn)
            if isinstance(parent, nn.Sequential):
                parent[int(bn_name)] = nn.Identity()
            else:
                setattr(parent, bn_name, nn.Identity())
    return module


def count_batchnorms(module: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in module.modules())


def _pairs(parent: nn.Module):
    """(BN child name, conv module) pairs directly under `parent`."""
    if isinstance(parent, nn.Sequential):
        children = list(parent)
        for i in range(1, len(children)):
            if isinstance(children[i], nn.BatchNorm2d) and isinstance(children[i - 1], _CONVS):
                yield str(i), children[i - 1]
        return
    for name, child in parent.named_children():
        if isinstance(child, nn.BatchNorm2d) and name.startswith("bn"):
            conv = getattr(parent, "conv" + name[2:], None)
            if isinstance(conv, _CONVS) and conv.out_channels == child.num_features:
                yield name, conv


@torch.no_grad()
def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    if isinstance(conv, nn.ConvTranspose2d):  # weight (in, out / groups, kh, kw)
        g = conv.groups
        w = conv.weight.view(g, conv.in_channels // g, conv.out_channels // g, *conv.weight.shape[2:])
        w = w * scale.view(g, 1, conv.out_channels // g, 1, 1)
        conv.weight.copy_(w.view_as(conv.weight))
    else:  # weight (out, in / groups, kh, kw)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
    new_bias = (bias - bn.running_mean) * scale + bn.bias
    conv.bias = nn.Parameter(new_bias.detach().clone(), requires_grad=False)
