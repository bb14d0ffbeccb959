"""Offline tracklet stitching of a recorded run: one id per person in the pose files, looking ahead.

The live tracker decides each frame with what it has seen so far; a file can be read to its end. Here each
track of a recording is a tracklet (its first and last frames, boxes and velocity at both ends and, when the
video is given, its appearance: `appearance.describe` on up to `SAMPLES` frames where the person stands
clear). Tracklets are taken in order of their start; each joins the chain (earlier tracklets already
joined under one id) that ended before it started, at most `max_gap` seconds before, and fits best:

- with appearance: similarity >= `identity.REID_MIN`, the best by a margin, and a plausible size;
- without: the position the chain's last velocity predicts is within `REACH` box heights (plus `REACH_PER_S`
  per second of the gap), the size plausible, and no other chain about as close (ambiguity: leave apart).

Chains never overlap in time, so two people seen in one frame never share an id. A joined tracklet takes
the chain's (first) id. `stitch_file` rewrites a `--json` (JSONL) or `--csv` file in place, atomically,
keeping every other field as written.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transpose_live.paths import write_atomic
from transpose_live.pose_files import FORMATS, PoseRecording, read_poses
from transpose_live.tracking import appearance as app
from transpose_live.tracking.identity import REID_MEMORY, REID_MIN

SAMPLES = 5  # frames per tracklet whose appearance is averaged
REACH, REACH_PER_S = 1.0, 1.0  # box heights
AMBIGUOUS = 0.25  # box heights (or appearance similarity) between the best two chains: too close to choose
MAX_SPEED = 3.0  # box heights per second: velocities above it are not extrapolated
OUTSIDE = 0.25  # of the frame size: boxes reaching further out mean the video is not the run's


@dataclass
class _Tracklet:
    id: int
    times: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    feature: np.ndarray | None = None

    def end_state(self, start: bool) -> tuple[float, np.ndarray, np.ndarray, float]:
        """(time, centre, velocity px/s, height) at the tracklet's start or end."""
        k = slice(0, 5) if start else slice(-5, None)
        t, b = np.asarray(self.times[k]), np.asarray(self.boxes[k], np.float64)
        c = (b[:, :2] + b[:, 2:]) / 2
        h = float(np.median(b[:, 3] - b[:, 1]))
        v = (c[-1] - c[0]) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else np.zeros(2)
        if np.linalg.norm(v) > MAX_SPEED * h:
            v = v / np.linalg.norm(v) * MAX_SPEED * h
        return float(t[0] if start else t[-1]), (c[0] if start else c[-1]), v, h


def _tracklets(recording: PoseRecording) -> list[_Tracklet]:
    tracks: dict[int, _Tracklet] = {}
    for frame, t, poses in zip(recording.frames, recording.timestamps, recording.poses):
        for tid, box in zip(poses.track_ids, poses.boxes):
            if tid >= 0:
                tr = tracks.setdefault(int(tid), _Tracklet(int(tid)))
                tr.times.append(float(t))
                tr.frames.append(int(frame))
                tr.boxes.append(box)
    return sorted(tracks.values(), key=lambda tr: tr.times[0])


def _matches(recording: PoseRecording, size: tuple[int, int]) -> bool:
    """Whether the recording's boxes fit frames of `size` (w, h): the video is the run's, as the run saw it."""
    boxes = [p.boxes for p in recording.poses if len(p)]
    if not boxes:
        return True
    far = np.concatenate(boxes)[:, 2:].max(0)
    return bool((far <= np.asarray(size) * (1 + OUTSIDE)).all())


def _appearances(recording: PoseRecording, tracklets: list[_Tracklet], video: str | Path) -> bool:
    """Each tracklet's mean descriptor over up to SAMPLES frames where it stands clear of the others. The
    video is decoded as the run decoded it (`media.VideoDecoder`: PyAV, display rotation applied, frames
    numbered alike). False (no appearance set) when the video is not the run's: its frames smaller than the
    recorded boxes, or fewer frames than the recording."""
    from transpose_live.media import VideoDecoder
    from transpose_live.tracking.identity import _clear

    wanted: dict[int, list] = {}
    index = {int(f): i for i, f in enumerate(recording.frames)}
    for tr in tracklets:
        for f in np.unique(np.linspace(0, len(tr.frames) - 1, SAMPLES * 3).astype(int)):
            wanted.setdefault(tr.frames[f], []).append(tr)
    last, seen, sums = max(wanted, default=-1), -1, {}
    decoder = VideoDecoder(video)
    try:
        if not _matches(recording, decoder.size):
            return False
        for item in decoder.frames():
            if item.index > last:
                break
            seen = item.index
            for tr in wanted.get(item.index, []):
                poses = recording.poses[index[item.index]]
                row = int(np.flatnonzero(poses.track_ids == tr.id)[0])
                n, _ = sums.get(tr.id, (0, None))
                if n < SAMPLES and _clear(poses.boxes, np.ones(len(poses)))[row]:
                    d = app.describe(item.image, poses.boxes[row:row + 1], poses.keypoints[row:row + 1])[0]
                    sums[tr.id] = (n + 1, d if n == 0 else sums[tr.id][1] + d)
    finally:
        decoder.close()
    if seen < last:
        return False
    for tr in tracklets:
        if tr.id in sums:
            f = sums[tr.id][1]
            tr.feature = f / max(float(np.linalg.norm(f)), 1e-9)
    return True


def _fit(chain: list[_Tracklet], tr: _Tracklet, max_gap: float) -> float | None:
    """How well `tr` continues `chain` (lower is better; None: it cannot). Appearance when both have it
    (1 - similarity), else the motion distance in box heights."""
    t0, c0, v0, h0 = chain[-1].end_state(start=False)
    t1, c1, _, h1 = tr.end_state(start=True)
    gap = t1 - t0
    if gap <= 0 or gap > max_gap or not 0.5 < h1 / h0 < 2.0:
        return None
    head = next((c.feature for c in reversed(chain) if c.feature is not None), None)
    if head is not None and tr.feature is not None:
        sim = float(app.similarity(tr.feature[None], head[None])[0, 0])
        return 1.0 - sim if sim >= REID_MIN else None
    d = min(np.linalg.norm(c1 - (c0 + v0 * gap)), np.linalg.norm(c1 - c0)) / max(h0, 1.0)
    return float(d) if d <= REACH + REACH_PER_S * gap else None


def stitch_ids(recording: PoseRecording, video: str | Path | None = None, max_gap: float = REID_MEMORY) -> dict[int, int]:
    """{old track id: new id} joining the tracklets of one person (ids not in it stay as they are)."""
    tracklets = _tracklets(recording)
    if video is not None and tracklets:
        _appearances(recording, tracklets, video)
    chains: list[list[_Tracklet]] = []
    for tr in tracklets:
        fits = sorted((f, i) for i, ch in enumerate(chains) if (f := _fit(ch, tr, max_gap)) is not None)
        clear_best = fits and (len(fits) == 1 or fits[1][0] - fits[0][0] >= AMBIGUOUS * (1 if tr.feature is None else 0.2))
        if clear_best:
            chains[fits[0][1]].append(tr)
        else:
            chains.append([tr])
    return {tr.id: ch[0].id for ch in chains for tr in ch[1:]}


def _rewrite_jsonl(text: str, mapping: dict[int, int]) -> str:
    out = []
    for line in text.splitlines():
        if line.strip():
            record = json.loads(line)
            for person in record.get("persons", []):
                person["track_id"] = mapping.get(int(person["track_id"]), person["track_id"])
            line = json.dumps(record, separators=(",", ":"))  # as pipeline/writers.py writes
        out.append(line)
    return "\n".join(out) + "\n"


def _rewrite_csv(text: str, mapping: dict[int, int]) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    col = rows[0].index("track_id")
    for row in rows[1:]:
        if len(row) > col:
            row[col] = str(mapping.get(int(row[col]), int(row[col])))
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def stitch_file(path: str | Path, video: str | Path | None = None, max_gap: float = REID_MEMORY,
                recording: PoseRecording | None = None) -> dict[int, int]:
    """Stitches the track ids of a `--json` / `--csv` file in place (atomically); returns {old: new}.
    `video`: the run's input video, for appearance (without it: time gaps and motion). `recording`: the
    file as `read_poses` read it already (so it is parsed once; the text is read again only to rewrite it)."""
    path = Path(path)
    mapping = stitch_ids(read_poses(path) if recording is None else recording, video, max_gap)
    if mapping:
        text = path.read_text(encoding="utf-8")
        kind = FORMATS.get(path.suffix.lower(), "jsonl")
        write_atomic(path, _rewrite_jsonl(text, mapping) if kind == "jsonl" else _rewrite_csv(text, mapping),
                     "stitched poses file")
    return mapping


def stitch_recording(recording: PoseRecording, video: str | Path | None = None,
                     max_gap: float = REID_MEMORY) -> dict[int, int]:
    """Stitches a recording read with `pose_files.read_poses` in memory (for `analyze`); returns {old: new}."""
    mapping = stitch_ids(recording, video, max_gap)
    if mapping:
        for i, poses in enumerate(recording.poses):
            ids = np.array([mapping.get(int(t), int(t)) for t in poses.track_ids], np.int64)
            recording.poses[i] = poses.with_(track_ids=ids)
    return mapping
