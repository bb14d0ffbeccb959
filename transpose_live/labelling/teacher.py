"""A teacher pose model (any ultralytics pose weights: a `.pt`, an exported `.onnx` or `*_openvino_model/`
folder): image -> confident people with COCO-17 keypoints. Loaded and called through the one YOLO
loader (`pipeline.yolo.YoloModel`), so the thread budget holds as for the person detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError
from transpose_live.pipeline.yolo import YoloModel

_MUST = ("a teacher must be an ultralytics pose model, which finds people and their keypoints in whole images: "
         "e.g. yolo11n-pose.pt or its exported *_openvino_model/ folder")
_HINT = "--teacher takes ultralytics pose weights, e.g. yolo11n-pose.pt or an exported *_openvino_model/ folder"


@dataclass
class TeacherPerson:
    box_xyxy: np.ndarray  # (4,)
    score: float
    keypoints: np.ndarray  # (17, 3) x, y, confidence


class PoseTeacher:
    def __init__(self, weights: str | Path, device: str = "cpu", half: bool = False) -> None:
        ours = transpose_live_model(weights)
        if ours is not None:
            raise UserError(f"--teacher {Path(str(weights)).name} is {ours} (a top-down model: it needs person boxes "
                            f"to crop); {_MUST}")
        self.yolo = YoloModel(weights, "teacher weights", _HINT)
        if self.yolo.task != "pose":
            raise UserError(f"--teacher {self.yolo.name} is an ultralytics {self.yolo.task} model, without keypoints; "
                            f"{_MUST}")
        self.model = self.yolo.model
        self.device = "cpu" if self.yolo.exported else device  # an export runs on its own CPU runtime
        self.half = bool(half) and not self.yolo.exported

    def __call__(self, image_bgr: np.ndarray, min_score: float) -> list[TeacherPerson]:
        result = self.yolo.predict(image_bgr, classes=[0], conf=min_score, device=self.device, half=self.half)
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return []
        boxes = result.boxes.xyxy.cpu().numpy()
        scores = result.boxes.conf.cpu().numpy()
        kpts = result.keypoints.data.cpu().numpy()
        if kpts.shape[1:] != (17, 3):
            raise UserError(f"teacher predicts keypoints of shape {kpts.shape[1:]}; COCO-17 (17, 3) is needed")
        return [TeacherPerson(boxes[i], float(scores[i]), kpts[i]) for i in range(len(boxes))]


def transpose_live_model(weights: str | Path) -> str | None:
    """What `weights` is when it is one of this project's pose models ("a transpose-live tp_r_a3 checkpoint",
    "... export"), else None (ultralytics weights, or anything else: YoloModel says what is wrong with it)."""
    from transpose_live.backends.choose import is_exported
    from transpose_live.backends.metadata import read_metadata
    from transpose_live.models.checkpoint import read_checkpoint_with_meta
    from transpose_live.models.factory import registry_model_of

    path = Path(str(weights))
    if is_exported(path):
        try:
            return f"a transpose-live {read_metadata(path).model} export"
        except UserError:  # no metadata beside it: an ultralytics export
            return None
    if not path.is_file():
        return None
    try:
        state, meta = read_checkpoint_with_meta(path)
    except UserError:  # not a plain checkpoint (ultralytics .pt files hold Python objects)
        return None
    name = (meta or {}).get("model") or registry_model_of(state)
    return f"a transpose-live {name} checkpoint" if name else None

