"""Training targets (spec 3): one Gaussian heatmap per joint (sigma 2 at 64x48) and per-joint weights.

The Gaussian is centred on the joint's sub-pixel heatmap position (unbiased, which is what DARK
decoding assumes); a joint gets weight 0 when it is not visible or falls outside the heatmap.
"""

from __future__ import annotations

import numpy as np

REFERENCE_SIGMA = 2.0  # heatmap pixels, at 64x48 (COCO) and 64x64 (MPII) alike in the reference recipes


def default_sigma(heatmap_size: tuple[int, int]) -> float:
    """Sigma 2 heatmap pixels at every heatmap size (narrower Gaussians on small maps stall learning)."""
    return REFERENCE_SIGMA


def gaussian_targets(joints_hm: np.ndarray, visible: np.ndarray, heatmap_size: tuple[int, int],
                     sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """joints (J, 2) in heatmap pixels, visible (J,) -> heatmaps (J, H, W) float32, weights (J,) float32."""
    h, w = heatmap_size
    joints_hm = np.asarray(joints_hm, np.float64).reshape(-1, 2)
    x, y = joints_hm[:, 0], joints_hm[:, 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    weights = ((np.asarray(visible) > 0) & inside).astype(np.float32)
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    d2 = (xs - x[:, None, None]) ** 2 + (ys - y[:, None, None]) ** 2
    maps = np.exp(-d2 / (2.0 * sigma * sigma)).astype(np.float32)
    maps *= weights[:, None, None]
    return maps, weights
