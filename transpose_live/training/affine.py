"""Training crops in the inference convention (spec 2.2) plus rotation about the center and mirroring.

    u = k R(rot) (x - c) + ((W-1)/2, (H-1)/2),  k = (W-1) / (scale_w * 200 - 1)

With rot = 0 and no mirror this is exactly `engine.boxes.crop_affine`; the same matrix built for
the heatmap size places the targets where `engine.decode` reads them back.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from transpose_live.engine.boxes import crop_scale_factor


def crop_matrix(center, scale, out_size: tuple[int, int], rotation_deg: float = 0.0,
                mirror: bool = False) -> np.ndarray:
    """(2, 3) float64 matrix mapping frame pixels to crop pixels of out_size (H, W)."""
    out_h, out_w = out_size
    k = float(crop_scale_factor(torch.as_tensor(np.asarray(scale, np.float64)), out_w))
    a = math.radians(rotation_deg)
    cos, sin = math.cos(a), math.sin(a)
    lin = k * np.array([[cos, sin], [-sin, cos]])
    c = np.asarray(center, np.float64)
    shift = np.array([(out_w - 1) / 2.0, (out_h - 1) / 2.0]) - lin @ c
    m = np.concatenate([lin, shift[:, None]], axis=1)
    if mirror:
        m[0] = -m[0]
        m[0, 2] += out_w - 1
    return m


def warp_crop(image_bgr: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Bilinear crop (zero border) of a BGR uint8 image -> (H, W, 3) uint8."""
    out_h, out_w = out_size
    return cv2.warpAffine(image_bgr, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def apply_matrix(matrix: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (2, 3) matrix."""
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    return pts @ matrix[:, :2].T + matrix[:, 2]
