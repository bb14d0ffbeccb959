"""Live triangulation from the newest poses of several cameras (what a multi-camera frame loop feeds).

    tri = LiveTriangulator(read_calibration("calib.toml"), "live3d.jsonl", fps=30, outputs=[web_view_writer])
    views = LiveViews(tri, ["cam01", "cam02"])
    views.offer("cam01", captured_at, poses, size=(1080, 1920)); ...; views.settle()   # per loop pass
    views.close()

`LiveViews` keeps each camera's newest view (capture time on one clock, poses) and decides when a set of
views is one instant: once every camera's newest view is within half a frame period of the newest one,
or, when a camera stays behind (slow or gone), as soon as another camera sends its next frame (that
camera is then `late`). So the views of one instant arriving over two passes are triangulated together,
and a lost camera delays the 3D by one frame at most. A camera's first view also gives its frame size:
the calibration is scaled to it when it differs (`calib.camera.fit_to_size`, one line through `say`).

`LiveTriangulator.write_tick([(camera, seconds, Poses), ...])` triangulates one set (`Triangulator`,
without the offline smoothing: a live filter would lag); views older than half a period are left out.
Each set gives one record, the 3D JSONL line of `triangulate --json` (with its `skew`, the spread of the
times used, and `late`, the cameras left out), handed to each output in order: the `--json3d` file
(`Jsonl3D`) and any other 3D writer (an object with `write(record)`, `close()`, `abort()`, e.g. the web
view's, `pipeline.web_view.LiveView.writer_3d`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from transpose_live.calib.camera import Calibration, fit_to_size
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.paths import commit, temporary_sibling
from transpose_live.poses import Poses
from transpose_live.triangulation.session import Frame3D, Triangulator
from transpose_live.triangulation.sync import Tick
from transpose_live.triangulation.writers import person_record


def frame3d_record(frame: Frame3D, late: list[str]) -> dict:
    """One 3D JSONL line (the schema of `triangulate --json`, plus `late`)."""
    return {"frame": frame.frame, "timestamp": round(frame.timestamp, 4), "skew": round(frame.skew, 4),
            "late": late, "persons": [person_record(p.track_id, p.points, p.errors, p.views) for p in frame.persons]}


def scene(calib: Calibration, cameras: list[str], keypoints: KeypointSet | None = None) -> dict:
    """What a 3D view draws besides the people: the `cameras`' names and positions (m, the calibration's
    world, taken as z up) and the skeleton of `keypoints` (COCO-17 by default)."""
    keypoints = keypoints or COCO17
    return {"cameras": [{"name": n, "position": [round(float(v), 4) for v in calib.camera(n).position]}
                        for n in cameras],
            "keypoints": list(keypoints.names), "skeleton": [list(pair) for pair in keypoints.skeleton], "up": "z"}


class Jsonl3D:
    """The 3D JSONL file, one line per record, written under a temporary name and renamed on close."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tmp = temporary_sibling(self.path)
        self._file = open(self._tmp, "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        commit(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        Path(self._tmp).unlink(missing_ok=True)


class LiveTriangulator:
    """Sets of views -> 3D records -> the outputs (`path`: the 3D JSONL; `outputs`: other 3D writers)."""

    def __init__(self, calib: Calibration, path: str | Path | None = None, fps: float = 30.0, kpt_thr: float = 0.3,
                 outputs: tuple = (), say: Callable[[str], None] | None = None) -> None:
        self.calib, self.path, self.say = calib, Path(path) if path is not None else None, say
        self.half_period = 0.5 / fps
        self.triangulator = Triangulator(calib, kpt_thr)
        self.outputs = ([Jsonl3D(self.path)] if self.path is not None else []) + list(outputs)
        self.frames = self.triangulated = 0
        self.skews: list[float] = []

    def fit(self, name: str, size: tuple[int, int]) -> None:
        """Camera `name` delivers frames of `size` (w, h): its intrinsics scaled to them when that differs
        from the calibrated size (said once through `say`); UserError for another aspect ratio."""
        fitted, note = fit_to_size(self.calib.camera(name), size)
        if note is not None:
            self.calib.replace(fitted)
            if self.say is not None:
                self.say(note)

    def write_tick(self, tick: list[tuple[str, float, Poses | None]]) -> Frame3D:
        """Triangulates one set (camera name, capture time in s, poses) and hands its record to the outputs."""
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
        record = frame3d_record(frame, late)
        for output in self.outputs:
            output.write(record)
        self.frames += 1
        self.triangulated += bool(frame.persons)
        self.skews.append(frame.skew)
        return frame

    def summary(self) -> str:
        """'3D: N of M frames triangulated, median skew S ms (PATH)'."""
        skews = [s for s in self.skews if np.isfinite(s)]
        skew = f"median skew {1000 * float(np.median(skews)):.1f} ms" if skews else "no skew measured"
        where = f" ({self.path})" if self.path is not None else ""
        return f"3D: {self.triangulated} of {self.frames} frames triangulated, {skew}{where}"

    def close(self) -> None:
        """Closes every output (the file renamed into place)."""
        for output in self.outputs:
            output.close()

    def abort(self) -> None:
        for output in self.outputs:
            output.abort()


class LiveViews:
    """Each camera's newest view -> sets of views of one instant -> `LiveTriangulator.write_tick` (module doc).
    `cameras`: the calibrated cameras expected; times are seconds on one clock (made relative to the first)."""

    def __init__(self, triangulator: LiveTriangulator, cameras: list[str]) -> None:
        self.triangulator, self.cameras = triangulator, list(cameras)
        self.newest: dict[str, tuple[float, Poses]] = {}
        self.fresh: set[str] = set()  # cameras with a view not written yet
        self.sized: set[str] = set()
        self.start: float | None = None

    def offer(self, name: str, time: float, poses: Poses, size: tuple[int, int] | None = None) -> None:
        """Camera `name`'s newest view: capture `time` (s), `poses`, its frame `size` (w, h)."""
        if name not in self.sized and size is not None:
            self.triangulator.fit(name, size)
            self.sized.add(name)
        if name in self.fresh:  # its next frame came before the set completed: write what there is
            self._write()
        if self.start is None:
            self.start = time
        self.newest[name] = (time - self.start, poses)
        self.fresh.add(name)

    def settle(self) -> None:
        """After a pass's views were offered: writes the set when every camera's view is within half a
        period of the newest."""
        times = [t for t, _ in self.newest.values()]
        if self.fresh and len(self.newest) == len(self.cameras) \
                and all(max(times) - t <= self.triangulator.half_period for t in times):
            self._write()

    def _write(self) -> None:
        self.triangulator.write_tick([(name, t, poses) for name, (t, poses) in self.newest.items()])
        self.fresh.clear()

    def close(self) -> None:
        if self.fresh:
            self._write()
        self.triangulator.close()

    def abort(self) -> None:
        self.triangulator.abort()
