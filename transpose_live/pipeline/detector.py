"""Person detection: an ultralytics YOLO model (persons only), or the whole frame as one person.

Weights: `--detector-weights PATH`, else env `TRANSPOSE_LIVE_DETECTOR`, else the ultralytics
name `yolo11n.pt` (ultralytics downloads it itself when online). A pose model file
(e.g. `yolo11n-pose.pt`) works too: its boxes are person boxes. `backend` (`--detector-backend`,
resolved by `detector_backend.choose_detector_backend`): torch runs the `.pt` through ultralytics;
onnxruntime / openvino run ultralytics' own export of it (cached, `detector_export`) or an exported model
as given, on our runtimes with our letterbox and NMS (`yolo_runtime.ExportedYolo`, the thread budget and
the pose model's precision applied when the runtime is opened).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from transpose_live.config import RunConfig
from transpose_live.errors import UserError, first_line
from transpose_live.pipeline.yolo import YoloModel, local_weights

DEFAULT_DETECTOR_WEIGHTS = "yolo11n.pt"
DETECTOR_ENV = "TRANSPOSE_LIVE_DETECTOR"
PERSON_CLASS = 0
_HINT = f"pass --detector-weights PATH (or set {DETECTOR_ENV}), or --detector none"


def resolve_detector_weights(weights: str | Path | None = None) -> str:
    """Option value, else $TRANSPOSE_LIVE_DETECTOR, else 'yolo11n.pt'."""
    if weights:
        return str(weights)
    return os.environ.get(DETECTOR_ENV) or DEFAULT_DETECTOR_WEIGHTS


class WholeFrameDetector:
    """`--detector none`: the whole frame is one person (pre-cropped clips)."""

    name = "none"

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)


NMS_IOU = 0.7  # ultralytics' default
MAX_PEOPLE = 100  # detections kept per frame


class PersonDetector:
    """ultralytics YOLO restricted to class 0 (person), on the pose model's device and precision.

    Calling it with a BGR uint8 frame returns (boxes (N,4) xyxy float32, scores (N,) float32),
    highest score first.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: torch.device | str = "cpu",
        half: bool = False,
        conf: float = RunConfig.det_conf,
        imgsz: int = RunConfig.detector_imgsz,
        backend: str = "torch",
        threads: int | None = None,
        precision: str | None = None,
        keypoints: bool = True,
    ) -> None:
        """precision: the pose model's resolved precision (`Runtime.precision`, taken as given); an OpenVINO
        detector follows it (`backends.precision.detector_precision`). keypoints=False: only boxes are wanted
        (a TransPose run), so an exported pose model on OpenVINO runs without its keypoint branch
        (`yolo_runtime.boxes_only`) and `detect` gives None for them."""
        self.weights = resolve_detector_weights(weights)
        self.backend = backend
        self.device = torch.device(device) if backend == "torch" else torch.device("cpu")
        self.half = bool(half) and self.device.type == "cuda"
        self.conf, self.iou, self.imgsz, self.max_det = conf, NMS_IOU, imgsz, MAX_PEOPLE
        if backend == "torch":
            self.yolo = YoloModel(self.weights, "detector weights", _HINT, threads, precision)
            self.model = self.yolo.model
        else:
            self.yolo = self.model = _exported_model(self.weights, backend, imgsz, threads, precision, keypoints)
            self.imgsz = self.yolo.facts.imgsz  # an export runs at the size it was exported for
        self.name = Path(self.weights).name
        self._check_runs()

    def _check_runs(self) -> None:
        """ultralytics loads the weights on the first predict: do it now, so a wrong file (a pose
        checkpoint, a missing runtime for an exported model) is one clear line before any work."""
        hint = _HINT.replace("PATH", "PATH to YOLO weights")
        try:
            self(np.zeros((64, 64, 3), np.uint8))
        except ModuleNotFoundError as exc:
            package = (exc.name or "the missing package").split(".")[0]
            raise UserError(f"detector weights {self.weights} need the Python package {package!r}: "
                            f"pip install {package}") from None
        except Exception as exc:  # noqa: BLE001 - ultralytics raises many kinds (AssertionError included)
            raise UserError(f"cannot use detector weights {self.weights}: {first_line(exc)}; {hint}") from None

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detect(image)[:2]

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(boxes, scores, keypoints (N, K, 3) x, y, score or None for a box-only model), highest score
        first: one predict (`pipeline.detector_poses` takes a pose model's keypoints from it)."""
        if self.backend != "torch":
            found = self.yolo.predict(image, conf=self.conf, iou=self.iou, max_det=self.max_det,
                                      classes=[PERSON_CLASS], imgsz=self.imgsz)
            return found.boxes, found.scores, found.keypoints  # highest score first
        result = self.yolo.predict(image, classes=[PERSON_CLASS], conf=self.conf, iou=self.iou, imgsz=self.imgsz,
                                   max_det=self.max_det, device=str(self.device), half=self.half)
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), None
        xyxy = boxes.xyxy.float().cpu().numpy().astype(np.float32)
        scores = boxes.conf.float().cpu().numpy().astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        kpts = getattr(result, "keypoints", None)
        kpts = None if kpts is None else kpts.data.float().cpu().numpy().astype(np.float32)[order]
        return xyxy[order], scores[order], kpts


def _exported_model(weights: str, backend: str, imgsz: int, threads: int | None, precision: str | None,
                    keypoints: bool = True):
    """The export of `weights` for `backend` opened on our runtime (`yolo_runtime.ExportedYolo`)."""
    from transpose_live.backends.precision import detector_precision
    from transpose_live.pipeline.yolo_runtime import ExportedYolo
    from transpose_live.runtime.threads import runtime_threads

    path = _exported_path(weights, backend, imgsz)
    try:
        return ExportedYolo(path, threads or runtime_threads(), detector_precision(precision), keypoints=keypoints)
    except ModuleNotFoundError as exc:
        package = (exc.name or "the missing package").split(".")[0]
        raise UserError(f"detector weights {weights} need the Python package {package!r}: pip install {package}") \
            from None


def _exported_path(weights: str, backend: str, imgsz: int) -> str:
    """Exported weights as they are; `.pt` weights exported (once, cached) for `backend`."""
    from transpose_live.pipeline.detector_backend import DYNAMIC_EXPORT, export_format
    from transpose_live.pipeline.detector_export import exported_detector, exported_format

    if exported_format(weights) is not None:
        return weights
    local = local_weights(weights, "detector weights", _HINT)
    return str(exported_detector(local, export_format(backend), imgsz, dynamic=DYNAMIC_EXPORT))


def build_detector(kind: str = "yolo", weights: str | Path | None = None, device="cpu", half: bool = False,
                   conf: float = RunConfig.det_conf, imgsz: int = RunConfig.detector_imgsz, backend: str | None = None, pose_backend: str = "torch",
                   **options):
    """`--detector yolo|none` -> a callable frame -> (boxes, scores).

    backend: `--detector-backend` (None/auto: follows `pose_backend`, see `detector_backend`).
    options: `PersonDetector`'s threads, precision and keypoints."""
    from transpose_live.pipeline.detector_backend import choose_detector_backend

    kind = (kind or "yolo").strip().lower()
    if kind == "none":
        return WholeFrameDetector()
    if kind not in ("yolo", "auto"):
        raise UserError(f"unknown --detector {kind!r}; use yolo or none")
    weights = resolve_detector_weights(weights)
    backend = choose_detector_backend(backend, weights, pose_backend, device)
    return PersonDetector(weights, device=device, half=half, conf=conf, imgsz=imgsz, backend=backend, **options)
