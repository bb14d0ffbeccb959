"""`Poses`: the per-frame result passed between estimator, tracker/smoother, renderer and writers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from transpose_live.keypoints import NUM_KEYPOINTS


@dataclass
class Poses:
    """Poses of the people in one frame, all arrays on the CPU.

    keypoints:   (N, K, 3) float32, [x, y, score] in frame pixels (K: the model's keypoint set, COCO's 17
                 unless a trained checkpoint says otherwise); (N, K, 4) [x, y, z, score] in metres for
                 triangulated 3D read back by `pose_files` (`analyze` only).
    boxes:       (N, 4) float32, person boxes x1, y1, x2, y2 in frame pixels.
    box_scores:  (N,) float32, detector confidence (1.0 when boxes were given without scores).
    track_ids:   (N,) int64, stable id per person across frames, -1 when not tracked.
    attention:   optional (N, K, h, w) float32: last encoder layer's attention row at each
                 predicted keypoint's token (TransPose models, only when asked for).
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    attention: np.ndarray | None = None

    def __post_init__(self) -> None:
        kpts = np.asarray(self.keypoints, dtype=np.float32)
        self.keypoints = kpts if kpts.ndim == 3 and kpts.shape[-1] in (3, 4) else kpts.reshape(-1, NUM_KEYPOINTS, 3)
        n = len(self.keypoints)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(n, 4)
        self.box_scores = np.asarray(self.box_scores, dtype=np.float32).reshape(n)
        if self.track_ids is None:
            self.track_ids = np.full(n, -1, dtype=np.int64)
        self.track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(n)

    @classmethod
    def empty(cls, num_keypoints: int = NUM_KEYPOINTS) -> "Poses":
        return cls(
            keypoints=np.zeros((0, num_keypoints, 3), np.float32),
            boxes=np.zeros((0, 4), np.float32),
            box_scores=np.zeros((0,), np.float32),
        )

    def __len__(self) -> int:
        return len(self.keypoints)

    def select(self, index) -> "Poses":
        """A subset of the people (index: boolean mask or integer indices)."""
        att = None if self.attention is None else self.attention[index]
        return Poses(
            keypoints=self.keypoints[index],
            boxes=self.boxes[index],
            box_scores=self.box_scores[index],
            track_ids=self.track_ids[index],
            attention=att,
        )

    def with_(self, **changes) -> "Poses":
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_records(self) -> list[dict]:
        """JSON-ready list of persons: track_id, box, box_score, keypoints [[x, y, score] per keypoint]."""
        return [
            {
                "track_id": int(self.track_ids[i]),
                "box": [round(float(v), 2) for v in self.boxes[i]],
                "box_score": round(float(self.box_scores[i]), 4),
                "keypoints": [
                    [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                    for x, y, s in self.keypoints[i]
                ],
            }
            for i in range(len(self))
        ]
