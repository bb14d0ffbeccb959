"""A teacher pose model (any ultralytics pose weights): image -> confident people with COCO-17 keypoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError, first_line


@dataclass
class TeacherPerson:
    box_xyxy: np.ndarray  # (4,)
    score: float
    keypoints: np.ndarray  # (17, 3) x, y, confidence


class PoseTeacher:
    def __init__(self, weights: str | Path, device: str = "cpu", half: bool = False) -> None:
        from transpose_live.ultralytics_env import configure_ultralytics_offline

        path = Path(weights)
        if not path.is_file():
            raise UserError(f"teacher weights not found: {path} (an ultralytics pose model, e.g. yolo11n-pose.pt)")
        configure_ultralytics_offline()
        from ultralytics import YOLO

        try:
            self.model = YOLO(str(path))
        except Exception as exc:  # noqa: BLE001 - ultralytics raises many types for a bad file
            raise UserError(f"cannot load teacher {path}: {first_line(exc)}") from None
        if getattr(self.model, "task", None) != "pose":
            raise UserError(f"teacher {path.name} is a {self.model.task} model; use pose weights (e.g. yolo11n-pose.pt)")
        self.device, self.half = device, bool(half)

    def __call__(self, image_bgr: np.ndarray, min_score: float) -> list[TeacherPerson]:
        result = self.model.predict(image_bgr, classes=[0], conf=min_score, device=self.device, half=self.half,
                                    verbose=False)[0]
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return []
        boxes = result.boxes.xyxy.cpu().numpy()
        scores = result.boxes.conf.cpu().numpy()
        kpts = result.keypoints.data.cpu().numpy()
        if kpts.shape[1:] != (17, 3):
            raise UserError(f"teacher predicts keypoints of shape {kpts.shape[1:]}; COCO-17 (17, 3) is needed")
        return [TeacherPerson(boxes[i], float(scores[i]), kpts[i]) for i in range(len(boxes))]
