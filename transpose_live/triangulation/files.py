"""Poses files of several cameras -> a triangulated, filtered `Recording3D` (what `triangulate` runs)."""

from __future__ import annotations

from pathlib import Path

from transpose_live.calib.camera import Calibration
from transpose_live.errors import UserError
from transpose_live.pose_files import read_poses
from transpose_live.triangulation.dlt import REJECT_PX
from transpose_live.triangulation.filtering import filter_recording
from transpose_live.triangulation.session import Recording3D, Triangulator
from transpose_live.triangulation.sync import make_ticks


def match_files(names: list[str], paths: list) -> list:
    """The poses files in calibration order: by camera name in the file names when each camera's name
    is in exactly one file name, else as given."""
    if len(paths) != len(names):
        raise UserError(f"the calibration has {len(names)} cameras ({', '.join(names)}); give one poses file "
                        f"per camera, not {len(paths)}")
    found = [[p for p in paths if n.lower() in Path(p).stem.lower()] for n in names]
    if all(len(f) == 1 for f in found) and len({str(f[0]) for f in found}) == len(names):
        return [f[0] for f in found]
    return list(paths)


def run_files(calib: Calibration, paths: list, sync: str = "frame", offsets: list[float] | None = None,
              kpt_thr: float = 0.3, reject_px: float | None = REJECT_PX, smooth: str = "rts",
              max_gap: int = 10) -> Recording3D:
    """Poses files of the cameras -> triangulated, filtered recording."""
    from rich.progress import track

    recordings = [read_poses(p) for p in match_files(calib.names, paths)]
    ticks = make_ticks(recordings, calib.names, sync, offsets)
    tri = Triangulator(calib, kpt_thr, reject_px)
    frames = [tri.tick(t) for t in track(ticks, description="triangulating", transient=True)]
    rec = Recording3D.from_frames(frames, recordings[0].keypoints)
    if not rec.people:
        raise UserError("no person was seen consistently by two or more cameras; check that the poses files "
                        "and the calibration are of the same cameras, in the same order")
    return filter_recording(rec, smooth, max_gap)
