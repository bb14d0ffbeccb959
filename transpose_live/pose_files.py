"""Reading back the poses a run wrote: one reader per format, both giving a `PoseRecording`.

- JSONL (`--json`, `pipeline/writers.py`): one line per frame, {frame, timestamp, [image], persons: [{track_id,
  box, box_score, keypoints: [[x, y, score], ...]}]}. The keypoint set is not stored: 17 keypoints read as
  COCO-17, 16 as MPII-16, any other count as `kp0..kpN` (so joint angles need one of the named sets or a CSV).
- 3D JSONL (`triangulate --json`, `triangulation/writers.py`): the same frame lines with keypoints
  [x, y, z, score] (metres, null where not triangulated), read into `Poses` with (N, K, 4) keypoints and
  `PoseRecording.dims` = 3.
- CSV (`--csv`, `pipeline/csv_writer.py`): one row per person per frame, keypoint names from the header
  (`<name>_x`, `<name>_y`, `<name>_score`); with `<name>_z` columns too (`triangulate --csv`) it is 3D. Empty keypoint or box cells (a spreadsheet's blanks) are
  missing values, as NaN is in JSONL.

A keypoint with any missing value (NaN, or an empty CSV cell) is a missing keypoint in both formats:
x and y NaN, score 0.

Malformed files are `UserError`s naming the file and line. `pose_record` is the JSONL line itself (the
writers of `video --json` and `analyze --smoothed` both write it), so the format is stated here once.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17, MPII16, KeypointSet
from transpose_live.poses import Poses

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass
class PoseRecording:
    """The frames of a recorded run: frame indices, timestamps (s), the poses of each frame and the
    keypoint set they are in."""

    frames: np.ndarray  # (F,) int64
    timestamps: np.ndarray  # (F,) float64, seconds
    poses: list[Poses]
    keypoints: KeypointSet
    dims: int = 2  # 3: triangulated [x, y, z, score] in metres

    def __len__(self) -> int:
        return len(self.poses)

    def track_ids(self) -> list[int]:
        """The track ids present, in order of first appearance."""
        seen: dict[int, None] = {}
        for p in self.poses:
            for t in p.track_ids.tolist():
                seen.setdefault(int(t), None)
        return list(seen)


def pose_record(index: int, timestamp: float, poses: Poses, *, camera: int | None = None,
                camera_name: str | None = None, image: str | None = None) -> dict:
    """One JSONL line: frame index, timestamp (s), the camera (multi-camera runs), image name (images), persons."""
    record = {"frame": int(index), "timestamp": round(float(timestamp), 4)}
    if camera is not None:
        record["camera"], record["camera_name"] = camera, camera_name
    if image is not None:
        record["image"] = image
    record["persons"] = poses.to_records()
    return record


def keypoint_set_for_count(count: int) -> KeypointSet:
    """COCO-17 for 17 keypoints, MPII-16 for 16, else generic names `kp0..` (no skeleton)."""
    if count == len(COCO17):
        return COCO17
    if count == len(MPII16):
        return MPII16
    return KeypointSet(tuple(f"kp{i}" for i in range(count)))


def read_poses(path: str | Path) -> PoseRecording:
    """The recording in a project JSONL or CSV file (format from the suffix)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: unknown poses file type {path.suffix!r}; give the .jsonl or .csv a run wrote")
    if not path.is_file():
        raise UserError(f"poses file {path} does not exist")
    return read_jsonl(path) if kind == "jsonl" else read_csv(path)


def _poses(persons: list, num_keypoints: int, where: str, width: int = 3) -> Poses:
    if not persons:
        return Poses(np.zeros((0, num_keypoints, width), np.float32), np.zeros((0, 4)), np.zeros(0))
    try:
        kpts = np.asarray([[[np.nan if v is None else v for v in k] for k in p["keypoints"]] for p in persons],
                          np.float32).reshape(len(persons), num_keypoints, width)
        boxes = np.asarray([p.get("box", [0, 0, 0, 0]) for p in persons], np.float32)
        scores = np.asarray([p.get("box_score", 1.0) for p in persons], np.float32)
        ids = np.asarray([p.get("track_id", -1) for p in persons], np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: not a person record of a transpose-live run ({exc})") from None
    missing = ~np.isfinite(kpts).all(axis=-1)
    kpts[missing, :-1] = np.nan  # a missing keypoint: no coordinates, score 0 (2D and 3D)
    kpts[missing, -1] = 0.0
    return Poses(kpts, boxes, scores, ids)


def _number(cell: str) -> float:
    """A CSV cell as a float; an empty cell is a missing value (NaN)."""
    return float(cell) if cell.strip() else float("nan")


def read_jsonl(path: str | Path) -> PoseRecording:
    """A `--json` file: one frame per line."""
    frames, times, poses = [], [], []
    count, width = None, 3
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path} line {n}"
            try:
                rec = json.loads(line)
                persons = rec["persons"]
                frame, t = int(rec["frame"]), float(rec["timestamp"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise UserError(f"{where}: not a frame record of a transpose-live run ({exc})") from None
            if persons and count is None:
                count = len(persons[0].get("keypoints", []))
                width = len(persons[0]["keypoints"][0]) if count else 3
            frames.append(frame)
            times.append(t)
            poses.append(_poses(persons, count or len(COCO17), where, width))
    if not poses:
        raise UserError(f"{path} holds no frames")
    count = count or len(COCO17)
    poses = [p if p.keypoints.shape[1:] == (count, width) else _poses([], count, "", width) for p in poses]
    return PoseRecording(np.asarray(frames, np.int64), np.asarray(times, np.float64), poses,
                         keypoint_set_for_count(count), dims=width - 1)


def _keypoint_names(header: list[str], path) -> tuple[str, ...]:
    names = [c[:-2] for c in header if c.endswith("_x")]
    names = [n for n in names if n != "box" and f"{n}_y" in header and f"{n}_score" in header]
    for need in ("frame", "timestamp", "track_id"):
        if need not in header:
            raise UserError(f"{path}: column {need!r} missing; give the CSV a run wrote (--csv)")
    if not names:
        raise UserError(f"{path}: no keypoint columns (<name>_x, <name>_y, <name>_score)")
    return tuple(names)


def read_csv(path: str | Path) -> PoseRecording:
    """A `--csv` file: one row per person per frame, grouped back into frames."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise UserError(f"{path} is empty")
        names = _keypoint_names(header, path)
        col = {c: i for i, c in enumerate(header)}
        axes = ("x", "y", "z", "score") if all(f"{n}_z" in col for n in names) else ("x", "y", "score")
        kcols = [col[f"{n}_{a}"] for n in names for a in axes]
        bcols = [col.get(c) for c in ("box_x1", "box_y1", "box_x2", "box_y2", "box_score")]
        rows: dict[int, list] = {}
        times: dict[int, float] = {}
        for n, row in enumerate(reader, 2):
            try:
                frame = int(row[col["frame"]])
                times[frame] = float(row[col["timestamp"]])
                person = {"track_id": int(row[col["track_id"]]),
                          "keypoints": np.asarray([_number(row[i]) for i in kcols]).reshape(-1, len(axes)).tolist()}
                if None not in bcols:
                    person["box"] = [_number(row[i]) for i in bcols[:4]]
                    person["box_score"] = _number(row[bcols[4]])
            except (IndexError, ValueError) as exc:
                raise UserError(f"{path} line {n}: not a row of a transpose-live --csv ({exc})") from None
            rows.setdefault(frame, []).append(person)
    order = sorted(times)
    poses = [_poses(rows[f], len(names), str(path), len(axes)) for f in order]
    if not poses:
        raise UserError(f"{path} holds no rows")
    known = {k.names: k for k in (COCO17, MPII16)}
    return PoseRecording(np.asarray(order, np.int64), np.asarray([times[f] for f in order], np.float64), poses,
                         known.get(names) or KeypointSet(names), dims=len(axes) - 1)
