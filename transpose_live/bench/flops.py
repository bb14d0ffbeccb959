"""Parameter and GFLOPs counting with `torch.utils.flop_counter.FlopCounterMode`.

Two numbers per model, both counted on a batch-1 input on the meta device (no memory, no time):

* `gmacs`: true multiply-accumulates (FlopCounterMode's flops / 2), in units of 1e9.
* `gflops`: the same network counted the way the published number was counted, so it can be put
  beside `ModelSpec.gflops`. The paper's numbers come from two tools:

  - TransPose models (the authors' fvcore-derived counter, 1e9 units): multiply-accumulates of
    convolutions, linear layers and attention matmuls, plus element-wise ops (batch norm 4 per
    element, add / mul / div / relu 1, softmax 5, dropout 1); layer norm, pooling and upsampling
    are not counted.
  - HRNet / SimpleBaseline (the HRNet code base's model summary): multiply-accumulates of
    convolutions and linear layers only, divided by 1024**3.

  Both count a transposed convolution per *output* position (weight size x output pixels), which
  is 4x its true cost for the stride-2 deconvolutions of TransPose-R and SimpleBaseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from transpose_live.models.factory import create_model, model_info

aten = torch.ops.aten

TRANSPOSE_CONVENTION = "TransPose counter: MACs + element-wise ops, 1e9"
HRNET_CONVENTION = "HRNet summary: conv/linear MACs, 1024**3"


@dataclass(frozen=True)
class FlopReport:
    """Counts for one model at batch 1."""

    name: str
    params: int
    gmacs: float  # true multiply-accumulates / 1e9
    gflops: float  # in the paper's convention (see module docstring)
    paper_gflops: float
    convention: str


def count_params(model: nn.Module) -> int:
    """Exact number of elements of all nn.Parameters (frozen ones included)."""
    return sum(p.numel() for p in model.parameters())


def _numel(shape) -> int:
    return math.prod(shape)


def _out(out_shape):
    """First output's shape (batch norm returns a tuple)."""
    return out_shape[0] if isinstance(out_shape[0], (tuple, list, torch.Size)) else out_shape


# Formulas get shapes in place of tensors (FlopCounterMode's shape_wrapper) and return op counts.
def _conv_per_output(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    return x_shape[0] * _numel(w_shape) * _numel(out_shape[2:])


def _mm(a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return _numel(a_shape) * b_shape[-1]


def _addmm(bias_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return _numel(a_shape) * b_shape[-1]


def _elementwise(per_element: int):
    def formula(*args, out_shape=None, **kwargs) -> int:
        return per_element * _numel(_out(out_shape))

    return formula


_MAC_RULES = {
    aten.convolution: _conv_per_output,
    aten.mm: _mm,
    aten.bmm: _mm,
    aten.addmm: _addmm,
}
_ELEMENTWISE_RULES = {
    aten.native_batch_norm: _elementwise(4),
    aten._native_batch_norm_legit_no_training: _elementwise(4),
    aten.add: _elementwise(1),
    aten.add_: _elementwise(1),
    aten.mul: _elementwise(1),
    aten.mul_: _elementwise(1),
    aten.div: _elementwise(1),
    aten.relu: _elementwise(1),
    aten.relu_: _elementwise(1),
    aten._softmax: _elementwise(5),
}


def _count(model: nn.Module, x: torch.Tensor, rules: dict | None = None) -> int:
    counter = FlopCounterMode(display=False, custom_mapping=rules or {})
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def _dropout_elements(model: nn.Module, x: torch.Tensor) -> int:
    """Elements passing through nn.Dropout modules (counted by the TransPose tool even in eval)."""
    total = 0

    def hook(_module, inputs, _output):
        nonlocal total
        total += inputs[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Dropout)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def count_flops(name: str, model: nn.Module | None = None) -> FlopReport:
    """Params and GFLOPs of model `name` (built on the meta device unless `model` is given)."""
    spec = model_info(name)
    if model is None:
        with torch.device("meta"):
            model = create_model(name).eval()
    device = next(model.parameters()).device
    x = torch.zeros(1, 3, *spec.input_size, device=device)
    previous_impl = None
    if spec.is_transpose:  # count the explicit softmax(QK^T) the reference code runs
        previous_impl = model.global_encoder.attention_impl
        model.set_attention_impl("reference")
    try:
        macs = _count(model, x) / 2
        if spec.is_transpose:
            ops = _count(model, x, {**_MAC_RULES, **_ELEMENTWISE_RULES}) + _dropout_elements(model, x)
            gflops, convention = ops / 1e9, TRANSPOSE_CONVENTION
        else:
            gflops, convention = _count(model, x, _MAC_RULES) / 1024**3, HRNET_CONVENTION
    finally:
        if previous_impl is not None:
            model.set_attention_impl(previous_impl)
    return FlopReport(name, count_params(model), macs / 1e9, gflops, spec.gflops, convention)
