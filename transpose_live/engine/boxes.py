"""Person boxes -> center/scale (spec 2.1) and the crop's similarity transform (spec 2.2, 2.5).

All functions are batched torch ops over N boxes; they work on any device.
"""

from __future__ import annotations

import numpy as np
import torch

PIXEL_STD = 200.0
PADDING = 1.25


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """(N, 4) x1, y1, x2, y2 -> (N, 4) x, y, w, h."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)


def box_to_center_scale(boxes_xywh: torch.Tensor, aspect_ratio: float = 192 / 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) xywh -> center (N, 2) in pixels, scale (N, 2) in units of 200 px, padded x1.25.

    The box is widened or heightened to `aspect_ratio` (w / h) around its center. Degenerate
    boxes are treated as at least 1 px wide and high so every crop stays finite.
    """
    x, y, w, h = boxes_xywh.unbind(-1)
    w = w.clamp(min=1.0)
    h = h.clamp(min=1.0)
    center = torch.stack((x + w * 0.5, y + h * 0.5), dim=-1)
    wider = w > aspect_ratio * h
    w2 = torch.where(wider, w, h * aspect_ratio)
    h2 = torch.where(wider, w / aspect_ratio, h)
    scale = torch.stack((w2, h2), dim=-1) / PIXEL_STD * PADDING
    return center, scale


def crop_regions(boxes_xyxy, aspect_ratio: float = 192 / 256) -> np.ndarray:
    """(N, 4) xyxy boxes -> (N, 4) xyxy frame regions the model's crops cover (aspect fixed, x1.25)."""
    boxes = torch.as_tensor(np.asarray(boxes_xyxy, np.float64).reshape(-1, 4))
    center, scale = box_to_center_scale(xyxy_to_xywh(boxes), aspect_ratio)
    half = scale * (PIXEL_STD / 2)
    return torch.cat((center - half, center + half), dim=-1).numpy()


def crop_scale_factor(scale: torch.Tensor, out_width: int) -> torch.Tensor:
    """k = (W_out - 1) / (scale_w * 200 - 1): pixels of the output per pixel of the frame, (N,)."""
    return (out_width - 1) / (scale[..., 0] * PIXEL_STD - 1.0)


def crop_affine(center: torch.Tensor, scale: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """(N, 2, 3) matrices mapping frame pixels (x, y, 1) to crop pixels (u, v) for out_size (H, W).

    u = k (x - cx) + (W-1)/2, v = k (y - cy) + (H-1)/2, no rotation.
    """
    out_h, out_w = out_size
    k = crop_scale_factor(scale, out_w)
    zero = torch.zeros_like(k)
    tx = (out_w - 1) / 2.0 - k * center[..., 0]
    ty = (out_h - 1) / 2.0 - k * center[..., 1]
    row0 = torch.stack((k, zero, tx), dim=-1)
    row1 = torch.stack((zero, k, ty), dim=-1)
    return torch.stack((row0, row1), dim=-2)


def crop_to_frame(coords: torch.Tensor, center: torch.Tensor, scale: torch.Tensor,
                  out_size: tuple[int, int]) -> torch.Tensor:
    """Map (N, J, 2) crop/heatmap coordinates back to frame pixels (inverse of `crop_affine`)."""
    out_h, out_w = out_size
    k = crop_scale_factor(scale, out_w)[:, None]
    x = (coords[..., 0] - (out_w - 1) / 2.0) / k + center[:, None, 0]
    y = (coords[..., 1] - (out_h - 1) / 2.0) / k + center[:, None, 1]
    return torch.stack((x, y), dim=-1)
