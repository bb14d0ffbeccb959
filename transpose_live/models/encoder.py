"""TransPose's Transformer encoder: post-norm layers whose attention runs through
`scaled_dot_product_attention` (fused kernels), with the official parameter layout
(`self_attn.in_proj_weight`, `in_proj_bias`, `out_proj.*`, `linear1/2`, `norm1/2`).

The position embedding is added to queries and keys in every layer. On request the last layer
also returns its attention matrix (averaged over heads); the fast path never materialises it.
`attention_impl = "reference"` materialises softmax(QK^T) in every layer as the reference code
does (used by `transpose-live bench --attention reference` to measure the speed-up).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn



def attention_weights_bytes(tokens: int, heads: int, itemsize: int) -> int:
    """Memory one image's returned attention costs in the last layer: the (heads, L, L) softmax that
    `need_weights` materialises plus its (L, L) mean over heads (8 heads: 9x one L x L matrix)."""
    return (heads + 1) * tokens * tokens * itemsize


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by heads {heads}")
        self.d_model, self.heads = d_model, heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.d_model // self.heads).transpose(1, 2)

    def forward(self, qk_in: torch.Tensor, v_in: torch.Tensor, impl: str = "fused", need_weights: bool = False):
        """qk_in = x + pos, v_in = x, both (B, L, d). Returns (out, weights or None)."""
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = self._split_heads(F.linear(qk_in, w_q, b_q))
        k = self._split_heads(F.linear(qk_in, w_k, b_k))
        v = self._split_heads(F.linear(v_in, w_v, b_v))
        weights = None
        if impl == "fused" and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = torch.softmax((q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-2, -1), dim=-1)
            out = attn @ v
            if need_weights:
                weights = attn.mean(dim=1)
        b, _, n, _ = out.shape
        out = out.transpose(1, 2).reshape(b, n, self.d_model)
        return self.out_proj(out), weights


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, ffn: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = SelfAttention(d_model, heads)
        self.linear1 = nn.Linear(d_model, ffn)
        self.linear2 = nn.Linear(ffn, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, pos, impl: str = "fused", need_weights: bool = False):
        attn_out, weights = self.self_attn(x + pos, x, impl=impl, need_weights=need_weights)
        x = self.norm1(x + self.dropout1(attn_out))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))
        return x, weights


class TransformerEncoder(nn.Module):
    def __init__(self, d_model: int, heads: int, ffn: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, ffn) for _ in range(num_layers))
        self.attention_impl = "fused"

    def forward(self, x, pos, return_attention: bool = False):
        """x (B, L, d), pos (1, L, d). Returns (tokens, last-layer attention (B, L, L) or None)."""
        weights = None
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x, w = layer(x, pos, impl=self.attention_impl, need_weights=return_attention and i == last)
            if w is not None:
                weights = w
        return x, weights


def sine_position_embedding(h: int, w: int, d_model: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sine embedding, (h*w, 1, d_model): concat(pos_y, pos_x), sin/cos interleaved."""
    n = d_model // 2
    scale = 2 * math.pi
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w) / (h + eps) * scale
    x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w) / (w + eps) * scale
    k = torch.arange(n, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / n)

    def encode(coord):
        p = coord[..., None] / dim_t
        return torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=-1).flatten(-2)

    pos = torch.cat((encode(y), encode(x)), dim=-1)  # (h, w, d)
    return pos.reshape(h * w, 1, d_model)
