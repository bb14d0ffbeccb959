"""`--model detector`: the person detector's own keypoints as the pose source, when `--detector-weights` is
a YOLO pose model (yolo11n-pose.pt, yolo26n-pose.pt, or their exports).

No crops and no second model: `KeypointDetector` is the run's detector (frame -> boxes, scores, as the
pipeline calls every detector) and keeps the keypoints of that same predict for the frame;
`DetectorPoses` is the run's pose estimator (the `PoseEstimator` interface: `estimate`, `estimate_batch`,
`keypoints`, `spec`, `precision`, `backend`, `device`) and hands those keypoints back for the boxes it is
given. Tracking, smoothing, writers, analytics, cameras and the web view see `Poses` as from any model.

A frame the detector did not see (`--det-every N` between detector runs, or boxes from elsewhere, e.g.
`eval` with ground-truth boxes) gets one predict of its own, and each given box takes the detection it
overlaps most (IoU >= `MATCH_IOU`); boxes without one get no pose.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17
from transpose_live.models.registry import DETECTOR_MODEL, model_info
from transpose_live.poses import Poses
from transpose_live.tracking.association import box_iou

MATCH_IOU = 0.5
_REMEMBERED_FRAMES = 32  # frames between a detector call and the estimate of the same frame (cameras x ticks)


class KeypointDetector:
    """A `PersonDetector` of a pose model: called like any detector, it also remembers each frame's
    keypoints (by the frame array's identity, held weakly) for `DetectorPoses`."""

    def __init__(self, person_detector) -> None:
        self.inner = person_detector
        self._seen: deque = deque(maxlen=_REMEMBERED_FRAMES)  # (weakref to the frame, boxes, scores, keypoints)
        self._lock = threading.Lock()
        self.predicts = 0  # model calls so far (tests check there is one per detected frame)

    def __getattr__(self, name):  # name, backend, imgsz, weights, device, half ... of the wrapped detector
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detect(image)[:2]

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, keypoints = self.inner.detect(image)
        self.predicts += 1
        keypoints = _as_keypoints(keypoints, len(boxes))
        with self._lock:
            self._seen.append((weakref.ref(image), boxes, scores, keypoints))
        return boxes, scores, keypoints

    def seen(self, image: np.ndarray):
        """(boxes, scores, keypoints) of the detector's call on this very frame array, else None."""
        with self._lock:
            for ref, boxes, scores, keypoints in reversed(self._seen):
                if ref() is image:
                    return boxes, scores, keypoints
        return None


class DetectorPoses:
    """The pose estimator of `--model detector` (see the module docstring); what ran is the detector's
    weights, runtime and precision."""

    flip_test = False
    decoder = "none"
    max_batch = 1
    model = None

    def __init__(self, person_detector) -> None:
        check_pose_weights(person_detector)
        self.detector = KeypointDetector(person_detector)
        self.keypoints = COCO17
        self.weights = Path(str(person_detector.weights)).name
        # named after the weights, so summaries read "detector:yolo11n-pose fp32 on torch"
        self.spec = replace(model_info(DETECTOR_MODEL), name=f"{DETECTOR_MODEL}:{Path(self.weights).stem}",
                            description=f"keypoints of {self.weights}")
        self.backend = person_detector.backend
        self.device = person_detector.device
        self.half = bool(person_detector.half)
        self.precision = detector_precision(person_detector)

    def __repr__(self) -> str:
        return (f"DetectorPoses({self.weights}, backend={self.backend}, device={self.device}, "
                f"precision={self.precision})")

    def estimate(self, frame: np.ndarray, boxes_xyxy, box_scores=None, return_attention: bool = False) -> Poses:
        return self.estimate_batch([frame], [boxes_xyxy], [box_scores], return_attention=return_attention)[0]

    def estimate_batch(self, frames: Sequence[np.ndarray], boxes: Sequence, scores: Sequence | None = None,
                       return_attention: bool = False) -> list[Poses]:
        if return_attention:
            raise UserError("attention maps need a TransPose model; --model detector has no attention layer")
        if len(frames) != len(boxes):
            raise UserError(f"got {len(frames)} frames but {len(boxes)} box lists")
        scores = [None] * len(frames) if scores is None else list(scores)
        return [self._poses(f, b, s) for f, b, s in zip(frames, boxes, scores)]

    def warmup(self, people: int = 1, frame_hw: tuple[int, int] = (480, 640)) -> None:
        self.detector(np.zeros((*frame_hw, 3), np.uint8))

    def _poses(self, frame: np.ndarray, boxes, scores) -> Poses:
        given = np.asarray(boxes if boxes is not None else np.zeros((0, 4)), np.float64).reshape(-1, 4)
        if len(given) == 0:
            return Poses.empty(len(self.keypoints))
        seen = self.detector.seen(frame)
        det_boxes, _, det_keypoints = seen if seen is not None else self.detector.detect(frame)
        given_scores = np.ones(len(given), np.float32) if scores is None else \
            np.asarray(scores, np.float32).reshape(-1)
        if len(given_scores) != len(given):
            raise UserError(f"got {len(given)} boxes but {len(given_scores)} box scores")
        rows, cols = match_boxes(given, det_boxes)
        return Poses(keypoints=det_keypoints[cols].astype(np.float32), boxes=given[rows],
                     box_scores=given_scores[rows])


def match_boxes(given: np.ndarray, detected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(given rows, detected rows) paired greedily by IoU (>= MATCH_IOU), in the given boxes' order; a
    box handed back unchanged from the same frame's detections pairs with itself (IoU 1)."""
    if len(given) == 0 or len(detected) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    iou = box_iou(given, detected)
    rows, cols, used = [], [], set()
    for i in range(len(given)):
        for j in np.argsort(-iou[i], kind="stable"):
            if iou[i, j] < MATCH_IOU:
                break
            if int(j) not in used:
                used.add(int(j))
                rows.append(i)
                cols.append(int(j))
                break
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def check_detector_run(cfg) -> None:
    """One line for the options `--model detector` cannot honour (before the detector loads)."""
    if cfg.weights_value is not None and str(cfg.weights_value) != "official":
        raise UserError("--model detector takes its keypoints from --detector-weights; drop --weights")
    if (cfg.detector or "yolo").strip().lower() == "none":
        raise UserError("--model detector takes the keypoints of the person detector; drop --detector none")


def check_pose_weights(person_detector) -> None:
    """One line unless the detector is a YOLO pose model with COCO-17 keypoints."""
    if not hasattr(person_detector, "detect"):
        raise UserError("--model detector takes the keypoints of the person detector; drop --detector none")
    task = person_detector.yolo.task
    if task != "pose":
        raise UserError(f"--model detector needs pose detector weights (e.g. yolo11n-pose.pt); "
                        f"{person_detector.weights} is a {task or 'box'} model")


def detector_precision(person_detector) -> str:
    """What the detector runs in: what its exported model's runtime compiled (onnxruntime, OpenVINO), fp16
    (CUDA half), else fp32."""
    if person_detector.backend != "torch":
        return person_detector.yolo.precision
    return "fp16" if person_detector.half else "fp32"


def _as_keypoints(keypoints: np.ndarray | None, n: int) -> np.ndarray:
    """(N, 17, 3) float32 x, y, score; a model without keypoint scores gets score 1."""
    if keypoints is None:
        return np.zeros((n, len(COCO17), 3), np.float32)
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.shape[1] != len(COCO17):
        raise UserError(f"--model detector reads COCO-17 keypoints; the detector gave {keypoints.shape[1]}")
    if keypoints.shape[-1] == 2:
        keypoints = np.concatenate([keypoints, np.ones((*keypoints.shape[:-1], 1), np.float32)], axis=-1)
    return keypoints
