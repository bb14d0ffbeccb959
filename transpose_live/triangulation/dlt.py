"""Triangulation of one person's keypoints from the views that see them.

`weighted_dlt`: the direct linear transform on undistorted normalised coordinates, each view's two rows
scaled by its confidence, solved by SVD for every keypoint at once.
`triangulate_person`: views scoring below `kpt_thr` are left out; with 3+ views, the view whose
reprojection error is largest is dropped while it exceeds `reject_px` (down to 2 views); a point whose
final error still exceeds `reject_px` * DROP_FACTOR is not triangulated (NaN, later gap-filled).
Errors are reprojection distances in pixels through each camera's full model (with distortion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transpose_live.calib.camera import Calibration

REJECT_PX = 80.0  # about 4x the typical error of YOLO11n-pose keypoints on 1080x1920 views
DROP_FACTOR = 3.0
MIN_VIEWS = 2  # outlier rejection keeps at least this many views


def weighted_dlt(norm: np.ndarray, weights: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """norm (K, V, 2) normalised coordinates, weights (K, V) (0 = unused view), extrinsics (V, 3, 4)
    -> (K, 3) points (NaN where fewer than 2 views have weight)."""
    x = np.nan_to_num(norm[..., 0])[..., None]
    y = np.nan_to_num(norm[..., 1])[..., None]
    p = extrinsics[None]  # (1, V, 3, 4)
    w = weights[..., None]
    rows = np.concatenate([w * (x * p[..., 2, :] - p[..., 0, :]), w * (y * p[..., 2, :] - p[..., 1, :])], axis=1)
    _, _, vt = np.linalg.svd(rows)
    h = vt[..., -1, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        pts = h[:, :3] / h[:, 3:4]
    pts[(weights > 0).sum(axis=1) < 2] = np.nan
    return pts


def view_errors(points: np.ndarray, pixels: np.ndarray, calib: Calibration) -> np.ndarray:
    """(K, 3) points, (K, V, 2) observed pixels -> (K, V) reprojection distances in px."""
    proj = np.stack([cam.project(points) for cam in calib.cameras], axis=1)
    return np.linalg.norm(proj - pixels, axis=-1)


@dataclass
class Triangulated:
    points: np.ndarray  # (K, 3) metres, NaN where not triangulated
    scores: np.ndarray  # (K,) mean confidence of the views used (0 where not triangulated)
    errors: np.ndarray  # (K,) mean reprojection error over the views used, px (NaN where none)
    used: np.ndarray  # (K, V) bool


def _mean_error(errors: np.ndarray, used: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(used, errors, 0).sum(axis=1) / used.sum(axis=1)


def _reject_views(points, errors, used, norm, scores, pixels, extr, calib, reject_px, min_views):
    """Leave-one-out: while a keypoint's largest view error exceeds reject_px and it has more than
    `min_views` views, the view whose removal leaves the smallest mean error of the others is dropped
    (`used` is updated in place)."""
    for _ in range(len(calib) - min_views):
        todo = np.flatnonzero((np.where(used, errors, -1.0).max(axis=1) > reject_px) & (used.sum(axis=1) > min_views))
        if not len(todo):
            break
        best = np.full(len(todo), np.inf)
        choice = np.full(len(todo), -1)
        for v in range(len(calib)):
            trial = used[todo].copy()
            trial[:, v] = False
            ok = used[todo, v]
            pts = weighted_dlt(norm[todo], np.where(trial, scores[todo], 0.0), extr)
            err = _mean_error(view_errors(pts, pixels[todo], calib), trial)
            better = ok & (err < best)
            best[better], choice[better] = err[better], v
        drop = choice >= 0
        used[todo[drop], choice[drop]] = False
        redo = todo[drop]
        points[redo] = weighted_dlt(norm[redo], np.where(used[redo], scores[redo], 0.0), extr)
        errors[redo] = view_errors(points[redo], pixels[redo], calib)
    return points, errors


def triangulate_person(keypoints: np.ndarray, calib: Calibration, kpt_thr: float = 0.3,
                       reject_px: float | None = REJECT_PX, min_views: int = MIN_VIEWS) -> Triangulated:
    """keypoints (V, K, 3) [x, y, score] of one person per camera (NaN / score 0 where a camera does not
    see them) -> Triangulated. `reject_px=None`: plain weighted DLT of every view (no rejection)."""
    pixels = np.transpose(keypoints[..., :2], (1, 0, 2)).astype(np.float64)  # (K, V, 2)
    scores = np.nan_to_num(np.transpose(keypoints[..., 2], (1, 0))).astype(np.float64)  # (K, V)
    used = (scores >= kpt_thr) & np.isfinite(pixels).all(axis=-1)
    norm = np.stack([cam.normalise(pixels[:, v]) for v, cam in enumerate(calib.cameras)], axis=1)
    extr = np.stack([cam.extrinsic for cam in calib.cameras])
    points = weighted_dlt(norm, np.where(used, scores, 0.0), extr)
    errors = view_errors(points, pixels, calib)
    if reject_px is not None:
        points, errors = _reject_views(points, errors, used, norm, scores, pixels, extr, calib, reject_px, min_views)
    mean_err = _mean_error(errors, used)
    with np.errstate(invalid="ignore"):
        mean_score = np.where(used, scores, 0).sum(axis=1) / np.maximum(used.sum(axis=1), 1)
    bad = ~np.isfinite(points).all(axis=1) | (used.sum(axis=1) < 2)
    if reject_px is not None:
        bad |= ~(mean_err <= reject_px * DROP_FACTOR)
    points[bad], mean_err[bad], mean_score[bad] = np.nan, np.nan, 0.0
    used[bad] = False
    return Triangulated(points, mean_score, mean_err, used)
