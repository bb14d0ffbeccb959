"""Attention map -> heat overlay on a crop (cv2.applyColorMap), and the colour bar legend."""

from __future__ import annotations

import cv2
import numpy as np

COLORMAP = cv2.COLORMAP_JET
ALPHA = 0.6


def upsample(att: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Token-grid map (h, w) -> (H, W) float32 (bilinear; token centres aligned with the crop)."""
    return cv2.resize(np.asarray(att, np.float32), (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR)


def heat_overlay(crop_bgr: np.ndarray, att: np.ndarray, threshold: float = 0.0, alpha: float = ALPHA):
    """Blends one attention map over a crop.

    Colours span the map's own range (min -> blue, max -> red); where the raw attention is below
    `threshold` no heat is drawn. The crop is shown in grey so the colours read.
    Returns (BGR uint8 tile, the map's max value).
    """
    h, w = crop_bgr.shape[:2]
    up = np.clip(upsample(att, (h, w)), 0.0, None)
    att = np.asarray(att, np.float32)
    vmin, vmax = (float(att.min()), float(att.max())) if att.size else (0.0, 0.0)
    norm = (up - vmin) / (vmax - vmin) if vmax > vmin else np.zeros_like(up)
    grey = cv2.cvtColor(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR).astype(np.float32)
    colour = cv2.applyColorMap((np.clip(norm, 0, 1) * 255).astype(np.uint8), COLORMAP).astype(np.float32)
    a = np.where(up >= threshold, alpha, 0.0).astype(np.float32)[..., None] if threshold > 0 else alpha
    tile = grey * (1 - a) + colour * a
    return np.clip(tile, 0, 255).astype(np.uint8), vmax


def colour_bar(width: int, height: int, label: str) -> np.ndarray:
    """A legend strip: the colormap from 0 to 1 with end labels and a caption."""
    strip = np.full((height, width, 3), 255, np.uint8)
    margin = 40
    bar_h = max(6, height // 3)
    ramp = np.linspace(0, 255, max(1, width - 2 * margin)).astype(np.uint8)[None, :]
    bar = cv2.applyColorMap(np.repeat(ramp, bar_h, axis=0), COLORMAP)
    y0 = 4
    strip[y0:y0 + bar_h, margin:margin + bar.shape[1]] = bar
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    ty = y0 + bar_h - 1
    cv2.putText(strip, "min", (margin - 30, ty), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(strip, "max", (margin + bar.shape[1] + 4, ty), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    while scale > 0.25 and cv2.getTextSize(label, font, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    (tw, th), _ = cv2.getTextSize(label, font, scale, 1)
    cv2.putText(strip, label, (max(2, (width - tw) // 2), min(height - 3, y0 + bar_h + th + 6)), font, scale,
                (0, 0, 0), 1, cv2.LINE_AA)
    return strip
