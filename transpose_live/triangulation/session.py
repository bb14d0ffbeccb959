"""Ticks of matched 2D poses -> 3D people per frame (`Triangulator`) -> per-person series over a whole
recording (`Recording3D`, filtered by filtering.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from transpose_live.calib.camera import Calibration
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.triangulation.association import MAX_EPIPOLAR_PX, IdKeeper, associate
from transpose_live.triangulation.dlt import REJECT_PX, triangulate_person
from transpose_live.triangulation.sync import Tick


@dataclass
class Person3D:
    track_id: int
    points: np.ndarray  # (K, 4) x, y, z (metres), score (0 = not triangulated)
    errors: np.ndarray  # (K,) mean reprojection error of the views used, px (NaN where none)
    views: list[list[str]]  # per keypoint, the cameras used

    @property
    def centre(self) -> np.ndarray:
        ok = self.points[:, 3] > 0
        return self.points[ok, :3].mean(axis=0) if ok.any() else np.full(3, np.nan)


@dataclass
class Frame3D:
    frame: int
    timestamp: float
    skew: float  # seconds between the earliest and latest view of the tick
    persons: list[Person3D]


class Triangulator:
    """One tick at a time: associate the views' people, triangulate each group, keep ids over time.
    `reject_px=None` and `associate_people=False` give the plain baseline (largest person per view,
    confidence-weighted DLT of every view)."""

    def __init__(self, calib: Calibration, kpt_thr: float = 0.3, reject_px: float | None = REJECT_PX,
                 max_epipolar_px: float = MAX_EPIPOLAR_PX, associate_people: bool = True) -> None:
        self.calib, self.kpt_thr, self.reject_px = calib, kpt_thr, reject_px
        self.max_epipolar_px, self.associate_people = max_epipolar_px, associate_people
        self.ids = IdKeeper()
        self.num_keypoints: int | None = None

    def _groups(self, people: list[np.ndarray]) -> list[dict[int, int]]:
        if self.associate_people:
            return associate(people, self.calib, self.kpt_thr, self.max_epipolar_px)
        largest = {}
        for v, p in enumerate(people):
            if len(p):
                ext = np.nanmax(p[..., :2], axis=1) - np.nanmin(p[..., :2], axis=1)
                largest[v] = int(np.argmax(ext.prod(axis=1)))
        return [largest] if len(largest) >= 2 else []

    def tick(self, tick: Tick) -> Frame3D:
        people = [np.asarray(p.keypoints, np.float64) if p is not None else np.zeros((0, 0, 3))
                  for _, _, p in tick.views]
        k = next((p.shape[1] for p in people if len(p)), self.num_keypoints or len(COCO17))
        self.num_keypoints = k
        people = [p if len(p) else np.zeros((0, k, 3)) for p in people]
        names = self.calib.names
        found = []
        for group in self._groups(people):
            kpts = np.zeros((len(people), k, 3))
            for v, i in group.items():
                kpts[v] = people[v][i]
            tri = triangulate_person(kpts, self.calib, self.kpt_thr, self.reject_px)
            points = np.concatenate([tri.points, tri.scores[:, None]], axis=1)
            views = [[names[v] for v in np.flatnonzero(row)] for row in tri.used]
            found.append(Person3D(-1, points, tri.errors, views))
        found = [p for p in found if (p.points[:, 3] > 0).any()]
        for person, tid in zip(found, self.ids.assign([p.centre for p in found])):
            person.track_id = tid
        return Frame3D(tick.frame, tick.timestamp, tick.skew, found)


@dataclass
class Series3D:
    """One person over the frames from their first to their last appearance."""

    track_id: int
    rows: np.ndarray  # (T,) frame rows of the recording
    points: np.ndarray  # (T, K, 4), filtered when the recording was filtered
    errors: np.ndarray  # (T, K) px, as triangulated (NaN where not)
    views: list[list[list[str]]]  # (T, K) cameras used


@dataclass
class Recording3D:
    frames: np.ndarray  # (F,)
    timestamps: np.ndarray  # (F,) seconds
    skews: np.ndarray  # (F,) seconds
    people: list[Series3D]
    keypoints: KeypointSet = field(default=COCO17)

    @classmethod
    def from_frames(cls, frames: list[Frame3D], keypoints: KeypointSet = COCO17) -> "Recording3D":
        k = len(keypoints)
        by_id: dict[int, list[tuple[int, Person3D]]] = {}
        for row, f in enumerate(frames):
            for p in f.persons:
                by_id.setdefault(p.track_id, []).append((row, p))
        people = []
        for tid, items in sorted(by_id.items()):
            first, last = items[0][0], items[-1][0]
            rows = np.arange(first, last + 1)
            pts = np.full((len(rows), k, 4), np.nan)
            pts[..., 3] = 0.0
            errs = np.full((len(rows), k), np.nan)
            views = [[[] for _ in range(k)] for _ in rows]
            for row, p in items:
                pts[row - first], errs[row - first], views[row - first] = p.points, p.errors, p.views
            people.append(Series3D(tid, rows, pts, errs, views))
        return cls(np.array([f.frame for f in frames], np.int64), np.array([f.timestamp for f in frames]),
                   np.array([f.skew for f in frames]), people, keypoints)

    def main_person(self) -> Series3D:
        """The person seen most: the most keypoint observations used (over frames, keypoints and views),
        so someone in the middle of the room wins over a bystander that only two cameras see."""
        return max(self.people, key=lambda s: sum(len(v) for frame in s.views for v in frame))

