"""COCO evaluation conventions (spec 2.6): instance rescoring and OKS-NMS per image.

instance score = box score x mean score of the keypoints whose score is above 0.2;
OKS-NMS: greedy by score, dropping any pose whose OKS with a kept pose exceeds 0.9. OKS as in
pycocotools (variances (2 sigma)^2, `exp(-d^2 / (2 * area * var))` averaged over the 17 joints),
with the area of the two poses' boxes averaged.
"""

from __future__ import annotations

import numpy as np

from transpose_live.engine.boxes import crop_regions
from transpose_live.keypoints import OKS_SIGMAS

KEYPOINT_THRESHOLD = 0.2
OKS_NMS_THRESHOLD = 0.9


def rescore(keypoints: np.ndarray, box_scores: np.ndarray, kpt_thr: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """(N,17,3) keypoints and (N,) box scores -> (N,) instance scores (0 where no joint is above kpt_thr)."""
    raw = np.asarray(keypoints)[..., 2]
    above = raw > np.asarray(kpt_thr, raw.dtype if raw.dtype.kind == "f" else np.float64)  # compared in float32
    kpt_scores = raw.astype(np.float64)
    count = above.sum(axis=1)
    total = np.where(above, kpt_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_scores, np.float64).reshape(-1)


def crop_areas(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Area of each person's crop region: box widened/heightened to 192:256, then x1.25.

    This is the area the reference attaches to each pose for OKS-NMS.
    """
    regions = crop_regions(boxes_xyxy)
    return (regions[:, 2] - regions[:, 0]) * (regions[:, 3] - regions[:, 1])


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas=OKS_SIGMAS, vis_thr: float | None = None) -> np.ndarray:
    """(N,N) OKS between every pair of poses (N,17,>=2); pair area = mean of the two areas.

    vis_thr: when given, only joints scored above it in BOTH poses count (mean over those joints).
    """
    kpts = np.asarray(keypoints, np.float64)
    areas = np.asarray(areas, np.float64).reshape(-1)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    diff = kpts[:, None, :, :2] - kpts[None, :, :, :2]  # (N,N,17,2)
    d2 = (diff**2).sum(axis=-1)
    pair_area = (areas[:, None] + areas[None, :]) / 2.0 + np.spacing(1)
    sim = np.exp(-d2 / var / pair_area[..., None] / 2.0)
    if vis_thr is None:
        return sim.mean(axis=-1)
    vis = kpts[..., 2] > vis_thr
    both = vis[:, None, :] & vis[None, :, :]
    n = both.sum(axis=-1)
    total = np.where(both, sim, 0.0).sum(axis=-1)
    return np.divide(total, n, out=np.zeros_like(total), where=n > 0)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float = OKS_NMS_THRESHOLD,
            sigmas=OKS_SIGMAS, vis_thr: float | None = None) -> np.ndarray:
    """Indices of the poses kept by greedy OKS-NMS, highest score first."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    oks = oks_matrix(keypoints, areas, sigmas, vis_thr)
    order = np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(scores), bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] > thr
    return np.asarray(keep, np.int64)
