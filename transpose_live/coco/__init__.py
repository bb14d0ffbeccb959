"""COCO keypoint conventions shared by evaluation, tracking and the writers: OKS, instance
rescoring and results records.

OKS as in pycocotools: per joint `exp(-d^2 / (2 * area * (2 sigma)^2))`, averaged over the joints
that count. Instance score (spec 2.6) = box score x mean score of the keypoints scoring above 0.2.
"""

from __future__ import annotations

import numpy as np

from transpose_live.keypoints import oks_sigmas

KEYPOINT_THRESHOLD = 0.2
PERSON_CATEGORY = 1


def oks(a: np.ndarray, b: np.ndarray, area: np.ndarray, counted: np.ndarray | None = None,
        sigmas=None) -> np.ndarray:
    """OKS matrix (N, M) between poses `a` (N, K, >=2) and `b` (M, K, >=2).

    sigmas: per-joint sigmas; None: COCO's for K = 17, a uniform `keypoints.DEFAULT_SIGMA` otherwise.
    area: the object scale of each pair, broadcastable to (N, M). counted: (N, M, K) bool, the
    joints that count for each pair (mean over them, 0 where none); None: all joints.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if sigmas is None:
        sigmas = oks_sigmas(a.shape[-2])
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # (N, M, K)
    sim = np.exp(-d2 / var / np.asarray(area, np.float64)[..., None] / 2.0)
    if counted is None:
        return sim.mean(axis=-1)
    n = counted.sum(axis=-1)
    total = np.where(counted, sim, 0.0).sum(axis=-1)
    return np.divide(total, n, out=np.zeros_like(total), where=n > 0)


def rescore(keypoints: np.ndarray, box_scores: np.ndarray, kpt_thr: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """(N,K,3) keypoints and (N,) box scores -> (N,) instance scores (0 where no joint is above kpt_thr)."""
    raw = np.asarray(keypoints)[..., 2]
    above = raw > np.asarray(kpt_thr, raw.dtype if raw.dtype.kind == "f" else np.float64)  # compared in float32
    kpt_scores = raw.astype(np.float64)
    count = above.sum(axis=1)
    total = np.where(above, kpt_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return mean * np.asarray(box_scores, np.float64).reshape(-1)


def results_records(image_id: int, keypoints: np.ndarray, scores: np.ndarray,
                    category_id: int = PERSON_CATEGORY) -> list[dict]:
    """COCO keypoint results entries {image_id, category_id, keypoints [x, y, s] * K, score}."""
    kpts = np.asarray(keypoints, np.float64)
    kpts = kpts.reshape(len(kpts), kpts[0].size if len(kpts) else 0)
    scores = np.asarray(scores, np.float64).reshape(-1)
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [round(float(v), 4) for v in kpts[i]],
            "score": float(scores[i]),
        }
        for i in range(len(kpts))
    ]
