"""COCO evaluation conventions (spec 2.6): OKS-NMS per image (rescoring and OKS: transpose_live.coco).

OKS-NMS: greedy by score, dropping any pose whose OKS with a kept pose exceeds 0.9, with the area
of the two poses' crop regions averaged.
"""

from __future__ import annotations

import numpy as np

from transpose_live.coco import oks
from transpose_live.engine.boxes import crop_regions

OKS_NMS_THRESHOLD = 0.9


def crop_areas(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Area of each person's crop region: box widened/heightened to 192:256, then x1.25.

    This is the area the reference attaches to each pose for OKS-NMS.
    """
    regions = crop_regions(boxes_xyxy)
    return (regions[:, 2] - regions[:, 0]) * (regions[:, 3] - regions[:, 1])


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas=None, vis_thr: float | None = None) -> np.ndarray:
    """(N,N) OKS between every pair of poses (N,K,>=2); pair area = mean of the two areas; sigmas None:
    COCO's for 17 keypoints, `keypoints.DEFAULT_SIGMA` for other sets.

    vis_thr: when given, only joints scored above it in BOTH poses count (mean over those joints).
    """
    kpts = np.asarray(keypoints, np.float64)
    areas = np.asarray(areas, np.float64).reshape(-1)
    pair_area = (areas[:, None] + areas[None, :]) / 2.0 + np.spacing(1)
    counted = None
    if vis_thr is not None:
        vis = kpts[..., 2] > vis_thr
        counted = vis[:, None, :] & vis[None, :, :]
    return oks(kpts, kpts, pair_area, counted, sigmas)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float = OKS_NMS_THRESHOLD,
            sigmas=None, vis_thr: float | None = None) -> np.ndarray:
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
