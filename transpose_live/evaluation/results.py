"""COCO keypoint results entries: {image_id, category_id: 1, keypoints [x, y, s] * 17, score}."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError


def poses_to_results(image_id: int, keypoints: np.ndarray, scores: np.ndarray) -> list[dict]:
    """One results entry per pose: keypoints (N,17,3) flattened, instance score (N,)."""
    kpts = np.asarray(keypoints, np.float64).reshape(-1, 17, 3)
    scores = np.asarray(scores, np.float64).reshape(-1)
    return [
        {
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 4) for v in kpts[i].reshape(-1)],
            "score": float(scores[i]),
        }
        for i in range(len(kpts))
    ]


def write_results(path: str | Path, entries: list[dict]) -> Path:
    """Writes the results list as JSON (parent folders created); a UserError if not writable."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
