"""Files `triangulate` writes (each atomically: temporary name, renamed when complete).

- JSONL (`--json`): one line per frame, {"frame", "timestamp", "skew", "persons": [{"track_id",
  "keypoints": [[x, y, z, score], ...] (metres, the calibration's world; score 0 = not triangulated, then
  x, y, z are null), "reprojection_error": [px or null per keypoint], "views": [[camera names] per
  keypoint], "error_px": the person's median}]}. `analyze` reads it (3D angles).
- CSV (`--csv`): one row per person per frame: frame, timestamp, track_id, <name>_x/_y/_z/_score (metres).
- TRC (`--trc`): OpenSim markers of the main person (the most keypoint observations), metres, Y up:
  the calibration's world is taken as Z up (Qualisys, a board on the floor) and turned to OpenSim's
  axes by X = y, Y = z, Z = x (a rotation). Markers carry Pose2Sim's COCO-17 names (Nose, LEye, ...,
  RAnkle); unmeasured = empty cells.
- C3D (`--c3d`): the same markers and axes as the TRC, in mm (ezc3d; install with `pip install
  transpose-live[3d]`), residual -1 where a marker is missing.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from transpose_live.analytics.outputs import write_trc_markers
from transpose_live.errors import UserError
from transpose_live.paths import atomic_path
from transpose_live.triangulation.session import Recording3D, Series3D

POSE2SIM_COCO17 = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow",
                   "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")


def _num(value: float, digits: int = 5):
    return round(float(value), digits) if math.isfinite(value) else None


def person_record(track_id: int, points: np.ndarray, errors: np.ndarray, views: list[list[str]]) -> dict:
    """One person of a 3D JSONL line."""
    return {"track_id": int(track_id),
            "keypoints": [[_num(x), _num(y), _num(z), _num(c, 4)] if c > 0 else [None, None, None, 0.0]
                          for x, y, z, c in points],
            "reprojection_error": [_num(e, 2) for e in errors], "views": views,
            "error_px": _num(np.nanmedian(errors), 2) if np.isfinite(errors).any() else None}


def write_json(rec: Recording3D, path: str | Path) -> int:
    """Writes the 3D JSONL; returns the number of frames."""
    by_row: dict[int, list[tuple[Series3D, int]]] = {}
    for s in rec.people:
        for i, row in enumerate(s.rows.tolist()):
            if (s.points[i, :, 3] > 0).any():
                by_row.setdefault(row, []).append((s, i))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row, frame in enumerate(rec.frames.tolist()):
            persons = [person_record(s.track_id, s.points[i], s.errors[i], s.views[i]) for s, i in by_row.get(row, [])]
            f.write(json.dumps({"frame": frame, "timestamp": round(float(rec.timestamps[row]), 4),
                                "skew": round(float(rec.skews[row]), 4), "persons": persons},
                               separators=(",", ":")) + "\n")
    return len(rec.frames)


def write_csv(rec: Recording3D, path: str | Path) -> int:
    """Writes the 3D CSV; returns the number of rows."""
    names = rec.keypoints.names
    rows = []
    for s in rec.people:
        for i, row in enumerate(s.rows.tolist()):
            pts = s.points[i]
            if not (pts[:, 3] > 0).any():
                continue
            cells = [int(rec.frames[row]), f"{rec.timestamps[row]:.4f}", s.track_id]
            for x, y, z, c in pts:
                cells += [f"{v:.5f}" for v in (x, y, z)] + [f"{c:.4f}"] if c > 0 else ["", "", "", "0"]
            rows.append(cells)
    rows.sort(key=lambda r: (r[0], r[2]))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "timestamp", "track_id"] + [f"{n}_{a}" for n in names for a in ("x", "y", "z", "score")])
        w.writerows(rows)
    return len(rows)


def marker_names(rec: Recording3D) -> tuple[str, ...]:
    return POSE2SIM_COCO17 if len(rec.keypoints) == 17 else tuple(rec.keypoints.names)


def opensim_markers(rec: Recording3D) -> tuple[Series3D, np.ndarray, np.ndarray]:
    """The main person, (T,) times from their first frame, (T, K, 3) markers in OpenSim axes (NaN where
    not triangulated)."""
    s = rec.main_person()
    xyz = np.where((s.points[..., 3] > 0)[..., None], s.points[..., :3], np.nan)
    times = rec.timestamps[s.rows] - rec.timestamps[s.rows[0]]
    return s, times, xyz[..., [1, 2, 0]]


def _rate(times: np.ndarray) -> float:
    return (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 30.0


def write_trc(rec: Recording3D, path: str | Path) -> int:
    """Writes the OpenSim TRC of the main person; returns its frames."""
    _, times, xyz = opensim_markers(rec)
    return write_trc_markers(path, marker_names(rec), times, xyz, units="m", digits=5)


def write_c3d(rec: Recording3D, path: str | Path) -> int:
    """Writes the C3D of the main person (ezc3d); returns its frames."""
    try:
        import ezc3d
    except ImportError:
        raise UserError("--c3d needs ezc3d: pip install 'transpose-live[3d]'") from None
    _, times, xyz = opensim_markers(rec)
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [_rate(times)]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = list(marker_names(rec))
    c3d["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    data = np.ones((4, xyz.shape[1], len(times)))
    data[:3] = np.transpose(np.nan_to_num(xyz * 1000.0, nan=0.0), (2, 1, 0))
    c3d["data"]["points"] = data
    residuals = np.where(np.isfinite(xyz).all(axis=-1).T, 0.0, -1.0)[None]
    c3d["data"]["meta_points"]["residuals"] = residuals
    c3d["data"]["meta_points"]["camera_masks"] = np.zeros((7, xyz.shape[1], len(times)), bool)
    with atomic_path(path) as tmp:
        c3d.write(str(tmp))
    return len(times)
