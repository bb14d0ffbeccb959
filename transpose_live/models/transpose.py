"""TransPose-R (ResNet-S + encoder + deconv head) and TransPose-H (HRNet-S + encoder)."""

from __future__ import annotations

import torch
from torch import nn

from transpose_live.models.encoder import ATTENTION_IMPLS, TransformerEncoder, sine_position_embedding
from transpose_live.models.hrnet import HRNetBackbone
from transpose_live.models.resnet import ResNetTrunk, deconv_head

NUM_JOINTS = 17


class _TransPoseBase(nn.Module):
    """Shared encoder plumbing: reduce -> tokens (+ sine pos in every layer) -> encoder -> map."""

    def _init_encoder(self, in_ch: int, d_model: int, heads: int, ffn: int, layers: int, grid: tuple[int, int]):
        self.grid = grid
        self.reduce = nn.Conv2d(in_ch, d_model, kernel_size=1, bias=False)
        self.pos_embedding = nn.Parameter(sine_position_embedding(grid[0], grid[1], d_model), requires_grad=False)
        self.global_encoder = TransformerEncoder(d_model, heads, ffn, layers)

    def set_attention_impl(self, impl: str) -> None:
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
        self.global_encoder.attention_impl = impl

    def _encode(self, feat: torch.Tensor, return_attention: bool):
        x = self.reduce(feat)
        b, d, h, w = x.shape
        if (h, w) != self.grid:
            raise ValueError(f"feature grid {h}x{w} does not match the position embedding's {self.grid}")
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, d), row-major over (h, w)
        pos = self.pos_embedding.transpose(0, 1).to(tokens.dtype)  # (1, L, d)
        tokens, attn = self.global_encoder(tokens, pos, return_attention)
        return tokens.transpose(1, 2).reshape(b, d, h, w), attn

    def _finish(self, heatmaps, attn, return_attention):
        return (heatmaps, attn) if return_attention else heatmaps


class TransPoseR(_TransPoseBase, ResNetTrunk):
    """ResNet-S (stem + layer1 + layer2, 1/8 resolution) -> encoder -> one deconv -> 1x1 conv.

    The trunk's modules sit at the top level (conv1, layer1 ...) as in the official checkpoints.
    """

    def __init__(self, d_model=256, ffn=1024, heads=8, layers=4, input_size=(256, 192), num_keypoints=NUM_JOINTS):
        ResNetTrunk.__init__(self, [3, 4])
        self._init_encoder(512, d_model, heads, ffn, layers, (input_size[0] // 8, input_size[1] // 8))
        self.deconv_layers = deconv_head(d_model, d_model, 1)
        self.final_layer = nn.Conv2d(d_model, num_keypoints, kernel_size=1)

    def forward(self, x, return_attention: bool = False):
        x, attn = self._encode(self.forward_trunk(x), return_attention)
        return self._finish(self.final_layer(self.deconv_layers(x)), attn, return_attention)


class TransPoseH(_TransPoseBase, HRNetBackbone):
    """HRNet-S (stages 1-3, highest-resolution output at 1/4) -> encoder -> 1x1 conv."""

    def __init__(self, width=48, d_model=96, ffn=192, heads=1, layers=4, input_size=(256, 192),
                 num_keypoints=NUM_JOINTS):
        HRNetBackbone.__init__(self, width, num_stages=3)
        self._init_encoder(width, d_model, heads, ffn, layers, (input_size[0] // 4, input_size[1] // 4))
        self.final_layer = nn.Conv2d(d_model, num_keypoints, kernel_size=1)

    def forward(self, x, return_attention: bool = False):
        x, attn = self._encode(HRNetBackbone.forward(self, x), return_attention)
        return self._finish(self.final_layer(x), attn, return_attention)
