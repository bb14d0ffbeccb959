"""Matching the frames of per-camera recordings into ticks (one tick = one 3D frame).

- `frame`: tick n holds frame n + offset_c of every camera c (frame numbers as the files give them);
  ticks run over the frames of the first camera.
- `timestamp`: tick n is the first camera's frame n at its time (+ its offset, seconds); every other camera
  gives its frame nearest to that time (its own timestamps + offset) when within half a frame period
  of the first camera (else it is missing from the tick). The skew of a tick is the spread of its times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transpose_live.errors import UserError
from transpose_live.pose_files import PoseRecording
from transpose_live.poses import Poses

SYNC_MODES = ("frame", "timestamp")


@dataclass
class Tick:
    frame: int
    timestamp: float  # seconds, the first camera's (with its offset)
    views: list[tuple[str, float, Poses | None]]  # per camera in calibration order: name, time, poses

    @property
    def skew(self) -> float:
        times = [t for _, t, p in self.views if p is not None]
        return float(max(times) - min(times)) if times else 0.0


def frame_period(recording: PoseRecording) -> float:
    steps = np.diff(recording.timestamps)
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 1 / 30


def make_ticks(recordings: list[PoseRecording], names: list[str], mode: str = "frame",
               offsets: list[float] | None = None) -> list[Tick]:
    """Ticks of the recordings (one per camera, in calibration order); offsets in frames (`frame`) or
    seconds (`timestamp`), one per camera (default 0)."""
    if mode not in SYNC_MODES:
        raise UserError(f"--sync must be one of {', '.join(SYNC_MODES)}, not {mode!r}")
    offsets = list(offsets or [0.0] * len(recordings))
    if len(offsets) != len(recordings):
        raise UserError(f"--offset: give one value per camera ({len(recordings)}), not {len(offsets)}")
    ref = recordings[0]
    ticks = []
    if mode == "frame":
        rows = [{int(f): i for i, f in enumerate(r.frames)} for r in recordings]
        for i, f in enumerate(ref.frames.tolist()):
            views = []
            for c, r in enumerate(recordings):
                row = rows[c].get(int(round(f + offsets[c] - offsets[0])))
                views.append((names[c], float(r.timestamps[row]) if row is not None else np.nan,
                              r.poses[row] if row is not None else None))
            ticks.append(Tick(int(f), float(ref.timestamps[i] + offsets[0]), views))
        return ticks
    halves = [frame_period(r) / 2 for r in recordings]
    for i, t0 in enumerate((ref.timestamps + offsets[0]).tolist()):
        views = []
        for c, r in enumerate(recordings):
            times = r.timestamps + offsets[c]
            j = int(np.argmin(np.abs(times - t0)))
            ok = abs(times[j] - t0) <= max(halves[c], halves[0]) + 1e-9
            views.append((names[c], float(times[j]) if ok else np.nan, r.poses[j] if ok else None))
        ticks.append(Tick(int(ref.frames[i]), float(t0), views))
    return ticks
