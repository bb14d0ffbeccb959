"""Person association across frames: ultralytics ByteTrack for detector boxes, and a small
OKS/IoU Hungarian matcher for boxes derived from the previous frame's keypoints.

Both return one id per input person (-1: not tracked this frame) in their own id space;
`PoseTracker` (pose_tracker.py) maps them to the public, never reused, track ids.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.optimize import linear_sum_assignment

from transpose_live.coco import oks


class _Detections:
    """The results object `BYTETracker.update` expects: conf, cls, xywh, xyxy, len, bool indexing."""

    def __init__(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        self.xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.conf = np.asarray(scores, np.float32).reshape(-1)
        self.cls = np.zeros(len(self.conf), np.float32)

    @property
    def xywh(self) -> np.ndarray:
        xy = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return np.concatenate([xy, self.xyxy[:, 2:] - self.xyxy[:, :2]], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index) -> "_Detections":
        return _Detections(self.xyxy[index], self.conf[index])


class ByteTrackAssociator:
    """`ultralytics.trackers.BYTETracker` on person boxes; lost tracks are kept `max_missed`
    calls. Thresholds are ultralytics' bytetrack.yaml defaults. A new person gets an id from
    its second frame on (ByteTrack confirms tracks after one match), except on the first frame.
    """

    def __init__(self, max_missed: int = 30, track_high_thresh: float = 0.25, track_low_thresh: float = 0.1,
                 new_track_thresh: float = 0.25, match_thresh: float = 0.8, fuse_score: bool = True) -> None:
        from transpose_live.ultralytics_env import configure_ultralytics_offline

        configure_ultralytics_offline()
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(
            tracker_type="bytetrack", track_high_thresh=track_high_thresh, track_low_thresh=track_low_thresh,
            new_track_thresh=new_track_thresh, track_buffer=int(max_missed), match_thresh=match_thresh,
            fuse_score=fuse_score,
        )
        self.tracker = BYTETracker(args)

    def __call__(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """One call per frame (also with no boxes, so lost tracks age). Returns ids (N,) int64."""
        dets = _Detections(boxes, scores)
        ids = np.full(len(dets), -1, np.int64)
        out = self.tracker.update(dets)
        for row in out.reshape(-1, 8):  # x1, y1, x2, y2, track_id, score, cls, idx
            ids[int(row[7])] = int(row[4])
        return ids


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def pose_oks(a: np.ndarray, b: np.ndarray, boxes_b: np.ndarray, min_score: float = 0.2) -> np.ndarray:
    """OKS matrix (len(a), len(b)) between keypoint sets (.., K, 3), b's box area as the scale,
    over keypoints confident (>= min_score) in both; 0 where none are."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    wh = np.clip(np.asarray(boxes_b, np.float64)[:, 2:] - np.asarray(boxes_b, np.float64)[:, :2], 1, None)
    area = wh.prod(-1) * 0.53  # COCO: segment area ~ 0.53 of the box area for people
    counted = (a[:, None, :, 2] >= min_score) & (b[None, :, :, 2] >= min_score)
    return oks(a, b, area[None, :], counted)


class KeypointMatcher:
    """Hungarian matching of this frame's poses to the previous poses of live tracks by
    max(OKS, IoU); pairs below `min_similarity` stay unmatched."""

    def __init__(self, min_similarity: float = 0.3, min_score: float = 0.2) -> None:
        self.min_similarity, self.min_score = min_similarity, min_score

    def __call__(self, keypoints: np.ndarray, boxes: np.ndarray, prev_keypoints: np.ndarray,
                 prev_boxes: np.ndarray, prev_ids: np.ndarray) -> np.ndarray:
        """Ids (N,) int64 taken from `prev_ids` (-1: unmatched)."""
        ids = np.full(len(keypoints), -1, np.int64)
        if len(keypoints) == 0 or len(prev_keypoints) == 0:
            return ids
        sim = np.maximum(pose_oks(keypoints, prev_keypoints, np.asarray(prev_boxes), self.min_score),
                         box_iou(boxes, prev_boxes))
        rows, cols = linear_sum_assignment(-sim)
        for r, c in zip(rows, cols):
            if sim[r, c] >= self.min_similarity:
                ids[r] = prev_ids[c]
        return ids
