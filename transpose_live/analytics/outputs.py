"""Files `analyze` writes, each under a temporary name renamed into place when complete:

- angles CSV: one row per person per frame (frames where the person is in the input, or was gap-filled):
  frame, timestamp, track_id, one column per angle (degrees, empty = NaN), and with an exercise `reps`
  (reps completed up to that frame). `pandas.read_csv` reads it as is.
- events JSONL: one line per rep, {"type": "rep", "exercise", "track_id", "side", "start", "end",
  "min_angle", "max_angle", "duration"} (seconds, degrees), in the order the reps ended; then one line per
  person, {"type": "summary", "exercise", "track_id", "frames", "reps", "tempo_s", "reps_per_min",
  "rom_deg"} (null where there is no rep).
- smoothed poses (`--smoothed`): the input's frames and people in the JSONL schema of `video --json`, each
  person's keypoints replaced by the gap-filled, smoothed ones (scores as measured, filled points scored).
- TRC (OpenSim markers, the Sports2D 2D convention): one track's (smoothed) keypoints as markers in
  pixels, x to the right, y up (y = -image y), z = 0; time from the track's first frame; unmeasured = empty.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from transpose_live.analytics.analysis import Analysis, TrackAnalysis, summary_rows
from transpose_live.paths import atomic_path
from transpose_live.pose_files import pose_record


def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.2f}"


def write_angles_csv(analysis: Analysis, path: str | Path) -> int:
    """Writes the angles CSV; returns the number of rows."""
    columns = analysis.angle_columns()
    reps = analysis.exercise is not None
    rows = []
    for t in analysis.tracks:
        s = t.series
        keep = s.present | np.isfinite(t.angles).any(axis=1)
        for i in np.flatnonzero(keep):
            row = [int(analysis.recording.frames[s.rows[i]]), f"{s.times[i]:.4f}", s.track_id]
            row += [_cell(v) for v in t.angles[i]]
            if reps:
                row.append(int(t.counts[i]))
            rows.append(row)
    rows.sort(key=lambda r: (r[0], r[2]))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "timestamp", "track_id", *columns] + (["reps"] if reps else []))
        w.writerows(rows)
    return len(rows)


def write_events(analysis: Analysis, path: str | Path) -> int:
    """Writes the rep events and the per-person summaries (JSONL); returns the number of rep events."""
    events = analysis.events()
    name = analysis.exercise.name if analysis.exercise else None
    summaries = [{"type": "summary", "exercise": name, "track_id": row["track_id"], "frames": row["frames"],
                  "reps": row["reps"], **{k: (round(row[k], 3) if math.isfinite(row[k]) else None)
                                          for k in ("tempo_s", "reps_per_min", "rom_deg")}}
                 for row in summary_rows(analysis)]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for e in events + summaries:
            f.write(json.dumps(e) + "\n")
    return len(events)


def longest_track(analysis: Analysis) -> TrackAnalysis:
    return max(analysis.tracks, key=lambda t: int(t.series.present.sum()))


def write_trc(analysis: Analysis, track: TrackAnalysis, path: str | Path) -> int:
    """Writes one track's keypoints as an OpenSim TRC marker file (pixels, y up, z = 0); returns its frames."""
    s, names = track.series, analysis.recording.keypoints.names
    kpts = np.asarray(track.keypoints, np.float64)
    ok = np.isfinite(kpts[..., :2]).all(axis=-1) & (kpts[..., 2] > 0)
    xyz = np.stack([kpts[..., 0], -kpts[..., 1], np.zeros(kpts.shape[:2])], axis=-1)
    xyz[~ok] = np.nan
    return write_trc_markers(path, names, s.times - s.times[0], xyz, units="px", digits=2)


def write_trc_markers(path: str | Path, names, times: np.ndarray, xyz: np.ndarray, units: str, digits: int) -> int:
    """The one TRC writer (OpenSim markers): `xyz` (T, K, 3) in `units`, NaN where a marker is missing (empty
    cells); the rate from `times` (seconds from 0). Written atomically; returns the frames."""
    rate = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 30.0
    header = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:.2f}\t{rate:.2f}\t{len(times)}\t{len(names)}\t{units}\t{rate:.2f}\t1\t{len(times)}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(names))),
        "",
    ]
    lines = []
    for i, t in enumerate(times):
        cells = [str(i + 1), f"{t:.4f}"]
        for p in xyz[i]:
            cells += [f"{v:.{digits}f}" for v in p] if np.isfinite(p).all() else ["", "", ""]
        lines.append("\t".join(cells))
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    return len(lines)


def write_smoothed_poses(analysis: Analysis, path: str | Path) -> int:
    """Writes the recording back as `video --json` JSONL with the smoothed keypoints; returns the frames."""
    rec = analysis.recording
    where = {}  # (row, track id) -> (track analysis, index in its series)
    for t in analysis.tracks:
        for i, row in enumerate(t.series.rows.tolist()):
            where[(row, t.series.track_id)] = (t, i)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row, poses in enumerate(rec.poses):
            kpts = poses.keypoints.copy()
            for j, tid in enumerate(poses.track_ids.tolist()):
                if (row, tid) in where:
                    t, i = where[(row, tid)]
                    kpts[j] = np.nan_to_num(t.keypoints[i])
            record = pose_record(int(rec.frames[row]), float(rec.timestamps[row]), poses.with_(keypoints=kpts))
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    return len(rec.poses)
