"""`--det-every N`: run the detector every N frames; in between, box each person from the
keypoints found in the previous frame (expanded), as top-down pose trackers do.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from transpose_live.config import RunConfig
from transpose_live.poses import Poses


def boxes_from_keypoints(
    poses: Poses, frame_size: tuple[int, int], kpt_thr: float = RunConfig.kpt_thr, expand: float = 1.25,
    min_keypoints: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: the box around its keypoints above `kpt_thr`, grown by `expand` around its
    centre (plus 10% more at the top for the head), clipped to the frame (w, h).

    Returns (boxes (M,4), box scores (M,), indices of the persons kept); persons with fewer
    than `min_keypoints` confident keypoints or a degenerate box are dropped.
    """
    w, h = frame_size
    boxes, keep = [], []
    for i, kpts in enumerate(poses.keypoints):
        ok = kpts[:, 2] > kpt_thr
        if ok.sum() < min_keypoints:
            continue
        xy = kpts[ok, :2]
        x1, y1 = xy.min(0)
        x2, y2 = xy.max(0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        bw, bh = (x2 - x1) * expand, (y2 - y1) * expand
        box = np.array([cx - bw / 2, cy - bh / 2 - 0.1 * bh, cx + bw / 2, cy + bh / 2], np.float32)
        box[[0, 2]] = box[[0, 2]].clip(0, w)
        box[[1, 3]] = box[[1, 3]].clip(0, h)
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            continue
        boxes.append(box)
        keep.append(i)
    keep_arr = np.asarray(keep, np.int64)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), keep_arr
    return np.stack(boxes), poses.box_scores[keep_arr].astype(np.float32), keep_arr


class BoxScheduler:
    """Chooses per frame between the detector and boxes from the previous keypoints.

    The detector runs on frame 0, every `det_every` frames, and early whenever the carried people
    can no longer be trusted: a person was lost since the last detection (fewer people now, or one
    whose keypoints no longer make a box), or a person's mean keypoint score fell below
    `score_drop` times its score on the frame after the last detection. `boxes(frame, detect)`
    returns (boxes, scores, ran_detector).
    """

    def __init__(self, det_every: int = RunConfig.det_every, kpt_thr: float = RunConfig.kpt_thr, expand: float = 1.25,
                 score_drop: float = 0.5) -> None:
        self.det_every = max(1, int(det_every))
        self.kpt_thr = kpt_thr
        self.expand = expand
        self.score_drop = score_drop
        self.early_detections = 0  # detector runs caused by a lost person or a score drop
        self._since_detection = 0
        self._previous: Poses | None = None
        self._ran = False
        self._detected_people = 0
        self._reference: dict[int, float] = {}  # person key -> mean keypoint score after the last detection

    def boxes(self, image: np.ndarray, detect: Callable) -> tuple[np.ndarray, np.ndarray, bool]:
        if self.det_every > 1 and self._previous is not None and len(self._previous) \
                and self._since_detection < self.det_every:
            h, w = image.shape[:2]
            boxes, scores, keep = boxes_from_keypoints(self._previous, (w, h), self.kpt_thr, self.expand)
            if len(boxes) and self._trusted(len(keep)):
                self._since_detection += 1
                self._ran = False
                return boxes, scores, False
            self.early_detections += 1
        self._since_detection = 1
        self._ran = True
        boxes, scores = detect(image)
        return boxes, scores, True

    def observe(self, poses: Poses) -> None:
        """The poses found on the frame just processed (the next frame's boxes come from them)."""
        self._previous = poses
        if self._ran:
            self._detected_people = len(poses)
            self._reference = dict(zip(_person_keys(poses), _mean_scores(poses)))

    def _trusted(self, carried: int) -> bool:
        previous = self._previous
        if carried < len(previous) or len(previous) < self._detected_people:
            return False  # somebody was lost since the last detection
        for key, score in zip(_person_keys(previous), _mean_scores(previous)):
            ref = self._reference.get(key)
            if ref is not None and score < self.score_drop * ref:
                return False
        return True


def _person_keys(poses: Poses) -> list[int]:
    """Track ids when the poses are tracked, else positions."""
    ids = poses.track_ids
    return [int(t) for t in ids] if len(ids) and (ids >= 0).all() else list(range(len(poses)))


def _mean_scores(poses: Poses) -> np.ndarray:
    return poses.keypoints[:, :, 2].mean(axis=1) if len(poses) else np.zeros(0, np.float32)
