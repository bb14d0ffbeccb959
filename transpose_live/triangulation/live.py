"""Live triangulation from the newest poses of several cameras (the sink a multi-camera frame loop feeds).

    tri = LiveTriangulator(read_calibration("calib.toml"), "live3d.jsonl")
    tri.write_tick([("cam01", 12.503, poses1), ("cam02", 12.498, poses2), ...])   # per loop tick
    tri.close()

A tick is the newest poses of each camera with their capture times (seconds, one clock). The views within
half a frame period of the newest one are triangulated together (`Triangulator`, without the offline
smoothing: a live filter would lag); the older ones are left out of that tick. Each tick writes one line of
the 3D JSONL of `triangulate --json` (with its `skew`, the spread of the times used, and `late`, the
cameras left out); `skews` keeps the skews for a summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from transpose_live.calib.camera import Calibration
from transpose_live.paths import commit, temporary_sibling
from transpose_live.poses import Poses
from transpose_live.triangulation.session import Frame3D, Triangulator
from transpose_live.triangulation.sync import Tick
from transpose_live.triangulation.writers import person_record


def frame3d_record(frame: Frame3D, late: list[str]) -> dict:
    """One 3D JSONL line (the schema of `triangulate --json`, plus `late`)."""
    return {"frame": frame.frame, "timestamp": round(frame.timestamp, 4), "skew": round(frame.skew, 4),
            "late": late, "persons": [person_record(p.track_id, p.points, p.errors, p.views) for p in frame.persons]}


class LiveTriangulator:
    def __init__(self, calib: Calibration, path: str | Path, fps: float = 30.0, kpt_thr: float = 0.3) -> None:
        self.calib, self.path = calib, Path(path)
        self.half_period = 0.5 / fps
        self.triangulator = Triangulator(calib, kpt_thr)
        self._tmp = temporary_sibling(self.path)
        self._file = open(self._tmp, "w", encoding="utf-8")
        self.frames = 0
        self.skews: list[float] = []

    def write_tick(self, tick: list[tuple[str, float, Poses | None]]) -> Frame3D:
        """Triangulates one tick (camera name, capture time in s, poses) and writes its line."""
        given = {name: (t, p) for name, t, p in tick}
        newest = max((t for t, p in given.values() if p is not None), default=0.0)
        views, late = [], []
        for name in self.calib.names:
            t, p = given.get(name, (np.nan, None))
            if p is not None and newest - t > self.half_period:
                late.append(name)
                p = None
            views.append((name, t, p))
        frame = self.triangulator.tick(Tick(self.frames, newest, views))
        self._file.write(json.dumps(frame3d_record(frame, late), separators=(",", ":")) + "\n")
        self._file.flush()
        self.frames += 1
        self.skews.append(frame.skew)
        return frame

    def close(self) -> None:
        """Finishes the file (renamed into place)."""
        self._file.close()
        commit(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        Path(self._tmp).unlink(missing_ok=True)
