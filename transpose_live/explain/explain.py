"""Attention explanations: estimate with attention rows, then render the panel image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from transpose_live.engine.estimator import require_attention
from transpose_live.errors import UserError
from transpose_live.paths import write_atomic
from transpose_live.explain.panel import MAX_COLS, render_panels
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.poses import Poses


@dataclass
class Explanation:
    """The panel image (BGR uint8), the poses with attention (N,K,h,w) and the keypoints shown."""

    panel: np.ndarray
    poses: Poses
    keypoints: list[int]

    def save(self, path: str | Path) -> Path:
        return write_png(path, self.panel)


def parse_keypoints(spec: str | None, keypoint_set: KeypointSet = COCO17) -> list[int]:
    """'all' (or empty) -> every index of `keypoint_set`; 'left_wrist,nose' -> their indices (order kept,
    duplicates dropped)."""
    if not spec or spec.strip().lower() == "all":
        return list(range(len(keypoint_set)))
    out: list[int] = []
    for name in spec.split(","):
        if not name.strip():
            continue
        try:
            j = keypoint_set.index(name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if j not in out:
            out.append(j)
    if not out:
        raise UserError("--keypoints is empty; use 'all' or names like left_wrist,nose")
    return out


def parse_box(text: str) -> np.ndarray:
    """'x1,y1,x2,y2' -> (1, 4) float32, with a clear error."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
        raise UserError(f"--box must be x1,y1,x2,y2 with x2 > x1 and y2 > y1, got {text!r}")
    return np.asarray([values], np.float32)


def explain(estimator, image: np.ndarray, boxes, box_scores=None, keypoints: list[int] | None = None,
            threshold: float = 0.0, max_cols: int = MAX_COLS, caption: str | None = None) -> Explanation:
    """Runs `estimator.estimate(..., return_attention=True)` and renders the panels (`explain_poses`)."""
    require_attention(estimator.spec, "explain")
    poses = estimator.estimate(image, boxes, box_scores=box_scores, return_attention=True)
    return explain_poses(estimator, image, poses, keypoints, threshold, max_cols, caption)


def explain_poses(estimator, image: np.ndarray, poses: Poses, keypoints: list[int] | None = None,
                  threshold: float = 0.0, max_cols: int = MAX_COLS, caption: str | None = None) -> Explanation:
    """The panels of poses already estimated with their attention rows (`poses.attention`), e.g. by the
    frame stream (`explain` on the command line)."""
    kset = getattr(estimator, "keypoints", COCO17)
    keypoints = list(range(len(kset))) if keypoints is None else list(keypoints)
    if threshold < 0:
        raise UserError("--threshold must be >= 0")
    if len(poses) == 0:
        raise UserError("no person to explain (no box given or detected)")
    panel = render_panels(image, poses, keypoints, threshold, tuple(estimator.spec.input_size), max_cols, caption,
                          kset)
    return Explanation(panel, poses, keypoints)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"cannot encode the panel for {path}")
    return write_atomic(path, data.tobytes(), "panel")
