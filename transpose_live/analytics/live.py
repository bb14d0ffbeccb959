"""`video` / `webcam --exercise`: the rep counters of a live run and their overlay.

    >>> live = LiveExercise(load_exercise("squat"), estimator.keypoints)
    >>> for frame, poses in run:                      # tracked poses, in frame order
    ...     live.update(poses, frame.timestamp)        # per-track counters (reps.RepCounter)
    ...     live.draw(image, poses)                    # angle at the joint, "squat 3" by the person

The same `RepCounter` counts files in `analyze` (there on smoothed keypoints; live on the tracker's
One-Euro / Kalman output). People without a track id (-1) get their angle drawn but are not counted.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from transpose_live.analytics.angles import angle_defs, compute_angles, side_defs
from transpose_live.analytics.exercises import Exercise
from transpose_live.analytics.reps import Rep, RepCounter
from transpose_live.config import KEYPOINT_THRESHOLD
from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.labels import LabelPlacer, text_box, track_labels
from transpose_live.poses import Poses

TEXT = (255, 255, 255)
PANEL = (40, 40, 40)
COUNT = (60, 200, 60)


class LiveExercise:
    """Per-track rep counters fed one frame at a time, and the overlay drawing them."""

    def __init__(self, exercise: Exercise, keypoints: KeypointSet | None = None, kpt_thr: float = KEYPOINT_THRESHOLD,
                 hud: bool = False) -> None:
        keypoints = keypoints or COCO17
        defs = angle_defs(keypoints)
        self.columns = side_defs(defs, exercise.angle)
        if not self.columns:
            raise UserError(f"--exercise {exercise.name}: the model's keypoints ({', '.join(keypoints.names)}) "
                            f"give no {exercise.angle} angle")
        self.exercise, self.kpt_thr = exercise, kpt_thr
        self.hud = hud  # the frames carry the HUD (top left): labels keep clear of it
        self.defs = [defs[j] for j in self.columns.values()]
        self.sides = tuple(self.columns)
        self.counters: dict[int, RepCounter] = {}
        self.reps: list[Rep] = []
        self._angles = np.zeros((0, len(self.defs)))
        self.labels: list[tuple[int, int, int, int]] = []  # the label boxes of the last frame drawn

    def update(self, poses: Poses, t: float) -> list[Rep]:
        """Feeds one frame's tracked poses taken at `t` seconds; returns the reps completed now."""
        self._angles = compute_angles(poses.keypoints, self.defs, self.kpt_thr) if len(poses) else \
            np.zeros((0, len(self.defs)))
        done = []
        for i, tid in enumerate(poses.track_ids.tolist()):
            if tid < 0:
                continue
            counter = self.counters.get(tid)
            if counter is None:
                counter = self.counters[tid] = RepCounter(self.exercise, tid, self.sides)
            done += counter.update(float(t), dict(zip(self.sides, self._angles[i].tolist())))
        self.reps += done
        return done

    def count(self, track_id: int) -> int:
        counter = self.counters.get(int(track_id))
        return counter.count if counter else 0

    def _shown_side(self, track_id: int, angles: np.ndarray) -> int | None:
        """The column drawn: the counted side (auto: the best seen so far), else the first measured."""
        counter = self.counters.get(track_id)
        if counter is not None and counter.counters:
            side = counter.chosen()[0].side
            j = self.sides.index(side)
            if math.isfinite(angles[j]):
                return j
        finite = np.flatnonzero(np.isfinite(angles))
        return int(finite[0]) if len(finite) else None

    def draw(self, image: np.ndarray, poses: Poses) -> np.ndarray:
        """Draws, per person, the exercise angle at its joint and the rep count above the box. In place;
        uses the angles of the last `update` (call it with the same poses first)."""
        if len(self._angles) != len(poses):
            return image
        lw = max(1, int(round(min(image.shape[:2]) / 240)))
        placer = LabelPlacer(image.shape)  # the track labels are where render put them: keep clear of them
        track_labels(image.shape, poses, placer, hud=self.hud)
        self.labels = placer.taken  # every label box of this frame (none covers another)
        for i in range(len(poses)):
            tid = int(poses.track_ids[i])
            if tid >= 0:
                label = f"{self.exercise.name} {self.count(tid)}"
                _text(image, label, label_origin(poses.boxes[i], lw), 0.6 * lw, lw + 1, COUNT, placer)
        for i in range(len(poses)):
            j = self._shown_side(int(poses.track_ids[i]), self._angles[i])
            if j is not None:
                vertex = self.defs[j].ends[1] if len(self.defs[j].ends) == 3 else self.defs[j].ends[0]
                x, y = poses.keypoints[i, list(vertex), :2].mean(axis=0)
                _text(image, f"{self._angles[i, j]:.0f} deg", (int(x) + 4 * lw, int(y)), 0.45 * lw, lw, TEXT, placer)
        return image

    def summary(self) -> list[tuple[int, int]]:
        """(track id, reps) per counted person, by id."""
        return [(tid, c.count) for tid, c in sorted(self.counters.items())]


def label_origin(box, lw: int) -> tuple[int, int]:
    """Where the count label's baseline starts: above the box's track label ("#1 0.88", drawn by
    pipeline.render at the box corner), or inside the box below it when the box touches the top of the
    frame."""
    x1, y1 = int(box[0]), int(box[1])
    _, track_h, _ = text_box("#0 0.00", 0.4 * lw, max(1, lw // 2))
    (_, th), base = cv2.getTextSize("squat 0", cv2.FONT_HERSHEY_SIMPLEX, 0.6 * lw, lw + 1)
    above = y1 - track_h - 2 - base
    if above - th - 2 >= 0:
        return x1, above
    return x1 + 2 * lw, y1 + 2 + track_h + 2 + th + 2


def _text(image, text: str, origin: tuple[int, int], scale: float, thick: int, colour, placer=None) -> None:
    """`text` on a dark panel with its baseline at `origin`, moved by `placer` (labels.LabelPlacer)
    off the labels already drawn."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = origin
    rect = (x - 2, y - th - 2, x + tw + 2, y + base)
    if placer is not None:
        rect = placer.place(rect)
    cv2.rectangle(image, rect[:2], rect[2:], PANEL, -1)
    cv2.putText(image, text, (rect[0] + 2, rect[1] + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
