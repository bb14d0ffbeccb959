"""Keypoints of given people (image file + person box each) through `PoseEstimator`, in the caller's order:
what training validation and MPII `eval` score. Images are decoded ahead by the evaluation's
`PrefetchLoader`; every person of an image goes into the same forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from transpose_live.evaluation.image_loader import ImageJob, PrefetchLoader


def estimate_people(estimator, images: Sequence[str | Path], boxes_xyxy: np.ndarray, people_per_batch: int = 64,
                    workers: int | None = None) -> np.ndarray:
    """(N, J, 3) frame keypoints [x, y, score] of person i in `images[i]` inside `boxes_xyxy[i]`."""
    boxes_xyxy = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    order: dict[Path, list[int]] = {}
    for i, path in enumerate(images):
        order.setdefault(Path(path), []).append(i)
    jobs = [ImageJob(k, path, boxes_xyxy[idx], np.ones(len(idx), np.float32))
            for k, (path, idx) in enumerate(order.items())]
    rows = list(order.values())
    out = np.zeros((len(boxes_xyxy), len(estimator.keypoints), 3), np.float32)
    for batch in PrefetchLoader(jobs, people_per_batch=people_per_batch, workers=workers):
        poses = estimator.estimate_batch(batch.frames, [j.boxes for j in batch.jobs], [j.scores for j in batch.jobs])
        for job, p in zip(batch.jobs, poses):
            out[rows[job.image_id]] = p.keypoints
    return out
