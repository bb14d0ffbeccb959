"""A recorded run -> per-track keypoint series -> (smoothed) joint angles -> repetitions.

    >>> result = analyze(read_poses("run.jsonl"), load_exercise("squat"), smooth="rts")
    >>> result.tracks[0].count, result.events()[:1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from transpose_live.analytics.angles import AngleDef, angle_defs, compute_angles, side_defs
from transpose_live.analytics.exercises import Exercise
from transpose_live.analytics.reps import SIDE_NAMES, RepCounter
from transpose_live.analytics.smoothing import MAX_GAP, smooth_keypoints
from transpose_live.config import KEYPOINT_THRESHOLD
from transpose_live.errors import UserError
from transpose_live.pose_files import PoseRecording


@dataclass
class TrackSeries:
    """One person over the frames from their first to their last appearance (rows of the recording);
    frames where they are absent hold NaN keypoints with score 0 (`present` is False)."""

    track_id: int
    rows: np.ndarray  # (T,) indices into the recording
    times: np.ndarray  # (T,) seconds
    keypoints: np.ndarray  # (T, K, 3) float64
    present: np.ndarray  # (T,) bool
    scale: float  # median person size in pixels, (box w + h) / 2


def track_series(recording: PoseRecording) -> list[TrackSeries]:
    """The tracks of a recording, in order of first appearance. A file without track ids (-1) is
    one person when it never holds two in a frame, else a UserError."""
    ids = recording.track_ids()
    if -1 in ids:
        if len(ids) > 1 or max(len(p) for p in recording.poses) > 1:
            raise UserError("the poses file has people without track ids; record it with tracking "
                            "(the video / webcam default) to analyse people separately")
    k = len(recording.keypoints)
    found: dict[int, list] = {t: [] for t in ids}
    for row, poses in enumerate(recording.poses):
        for i, tid in enumerate(poses.track_ids.tolist()):
            found[int(tid)].append((row, poses.keypoints[i], poses.boxes[i]))
    out = []
    for tid, items in found.items():
        first, last = items[0][0], items[-1][0]
        rows = np.arange(first, last + 1)
        kpts = np.full((len(rows), k, recording.dims + 1), np.nan)  # [x, y(, z), score]
        kpts[:, :, -1] = 0.0
        present = np.zeros(len(rows), bool)
        sizes = []
        for row, kp, box in items:
            kpts[row - first], present[row - first] = kp, True
            sizes.append(((box[2] - box[0]) + (box[3] - box[1])) / 2)
        scale = float(np.median(sizes)) if np.median(sizes) > 0 else _keypoint_scale(kpts)
        out.append(TrackSeries(int(tid), rows, recording.timestamps[rows], kpts, present, scale))
    return out


def _keypoint_scale(kpts: np.ndarray) -> float:
    """A person size from the keypoints' extent when the file has no boxes (2D or 3D)."""
    xy = kpts[..., :-1]
    ext = np.nanmax(xy, axis=1) - np.nanmin(xy, axis=1)
    value = np.nanmedian(ext.sum(axis=-1) / 2) if np.isfinite(ext).any() else 100.0
    return float(value) if value > 0 else 100.0


@dataclass
class TrackAnalysis:
    series: TrackSeries
    keypoints: np.ndarray  # (T, K, 3) gap-filled and smoothed (as measured with smooth="none")
    angles: np.ndarray  # (T, A) degrees
    counter: RepCounter | None = None
    counts: np.ndarray = field(default=None)  # (T,) reps completed up to each frame

    @property
    def count(self) -> int:
        return self.counter.count if self.counter else 0


@dataclass
class Analysis:
    recording: PoseRecording
    defs: list[AngleDef]
    exercise: Exercise | None
    tracks: list[TrackAnalysis]

    def events(self) -> list[dict]:
        """Every counted rep as a JSONL event, in time order."""
        if self.exercise is None:
            return []
        reps = [r for t in self.tracks for r in t.counter.reps]
        return [r.event(self.exercise.name) for r in sorted(reps, key=lambda r: (r.end, r.track_id))]

    def angle_columns(self) -> list[str]:
        return [d.name for d in self.defs]


def analyze(recording: PoseRecording, exercise: Exercise | None = None, kpt_thr: float = KEYPOINT_THRESHOLD,
            smooth: str = "rts", max_gap: int = MAX_GAP) -> Analysis:
    """Angles (and reps, with an exercise) of every track of a recording."""
    defs = angle_defs(recording.keypoints)
    columns = side_defs(defs, exercise.angle) if exercise else {}
    if exercise and not columns:
        names = ", ".join(recording.keypoints.names)
        raise UserError(f"exercise {exercise.name!r} needs the {exercise.angle} angle, which the keypoints of "
                        f"this file ({names}) do not give")
    tracks = []
    for series in track_series(recording):
        kpts = smooth_keypoints(series.keypoints, series.times, series.scale, kpt_thr, smooth, max_gap)
        angles = compute_angles(kpts, defs, kpt_thr)
        result = TrackAnalysis(series, kpts, angles)
        if exercise:
            result.counter, result.counts = count_reps(exercise, series, angles, columns)
        tracks.append(result)
    return Analysis(recording, defs, exercise, tracks)


def count_reps(exercise: Exercise, series: TrackSeries, angles: np.ndarray, columns: dict[int, int]):
    """Runs one track's angles through a `RepCounter`; returns it and the running count per frame."""
    counter = RepCounter(exercise, series.track_id, tuple(columns))
    for i, t in enumerate(series.times):
        counter.update(float(t), {s: float(angles[i, j]) for s, j in columns.items()})
    ends = np.sort([r.end for r in counter.reps])
    counts = np.searchsorted(ends, series.times, side="right")
    return counter, counts


def summary_rows(analysis: Analysis) -> list[dict]:
    """Per person: frames seen, reps, tempo (mean s per rep), rate (reps per minute while active) and
    range of motion (mean of max - min angle over the reps; without reps the 5-95 % range of the angle)."""
    rows = []
    ex = analysis.exercise
    for t in analysis.tracks:
        reps = t.counter.reps if t.counter else []
        row = {"track_id": t.series.track_id, "frames": int(t.series.present.sum()), "reps": len(reps),
               "tempo_s": math.nan, "reps_per_min": math.nan, "rom_deg": math.nan, "side": ""}
        if reps:
            row["tempo_s"] = float(np.mean([r.duration for r in reps]))
            span = reps[-1].end - reps[0].start
            row["reps_per_min"] = 60 * len(reps) / span if span > 0 else math.nan
            row["rom_deg"] = float(np.mean([r.max_angle - r.min_angle for r in reps]))
            row["side"] = ",".join(sorted({SIDE_NAMES[r.side] for r in reps}))
        elif ex:
            cols = list(side_defs(analysis.defs, ex.angle).values())
            values = t.angles[:, cols]
            values = values[np.isfinite(values)]
            if len(values):
                row["rom_deg"] = float(np.percentile(values, 95) - np.percentile(values, 5))
        rows.append(row)
    return rows
