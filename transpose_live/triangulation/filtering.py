"""3D filtering of a triangulated recording, the same zero-lag smoothing `analyze` applies in 2D
(analytics/smoothing.py: gap filling of dropouts up to `max_gap` frames, then RTS or Savitzky-Golay
forward-backward), in metres. The person scale (the unit of the RTS noise levels) is 0.7 x the person's
median 3D extent, about what a 2D box's (w + h) / 2 is for a standing person."""

from __future__ import annotations

import warnings

import numpy as np

from transpose_live.analytics.smoothing import MAX_GAP, RTS_R, smooth_keypoints
from transpose_live.triangulation.session import Recording3D

SCORE_FLOOR = 1e-6  # triangulated points score > 0; untriangulated 0


def person_scale(points: np.ndarray) -> float:
    """0.7 x the median over frames of the largest side of the points' 3D bounding box (metres)."""
    ok = points[..., 3] > 0
    xyz = np.where(ok[..., None], points[..., :3], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        ext = np.nanmax(np.nanmax(xyz, axis=1) - np.nanmin(xyz, axis=1), axis=-1)
    value = np.nanmedian(ext) if np.isfinite(ext).any() else 1.0
    return float(0.7 * value) if value > 0 else 1.0


def filter_recording(rec: Recording3D, smooth: str = "rts", max_gap: int = MAX_GAP, noise: float | None = None) -> Recording3D:
    """Each person's points gap-filled and smoothed in place; returns `rec`."""
    for person in rec.people:
        times = rec.timestamps[person.rows]
        scale = person_scale(person.points)
        for k in range(person.points.shape[1]):  # one keypoint at a time: small Kalman states, fast
            person.points[:, k:k + 1] = smooth_keypoints(person.points[:, k:k + 1], times, scale, SCORE_FLOOR,
                                                         smooth, max_gap, rts_r=noise or RTS_R)
    return rec
