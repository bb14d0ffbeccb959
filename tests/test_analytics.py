"""Movement analytics on real motion: YOLO11n-pose keypoints of the shared squat clip, written in the
project's JSONL schema (tests/analytics_clips.py; cached in pytest's cache folder between runs).

squat.mp4 (side view, 30 fps, 322 frames), counted by eye on a contact sheet of every 6th frame and
cross-checked on the knee-angle plot: the person stands until ~1.5 s, then squats 3 times, the bottoms
near frames 78, 170 and 252 (2.6 s, 5.7 s, 8.4 s; knee ~55 degrees), stands, and walks to the camera
from ~9.7 s. So 3 reps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from analytics_clips import CLIPS, POSE_WEIGHTS, record_yolo_poses
from helpers import cli, one_line_error
from transpose_live.analytics.analysis import analyze
from transpose_live.analytics.exercises import load_exercise
from transpose_live.pose_files import PoseRecording, read_poses
from transpose_live.poses import Poses

SQUAT_REPS = 3
SQUAT_BOTTOMS = (78 / 30, 170 / 30, 252 / 30)  # seconds, by eye


@pytest.fixture(scope="session")
def squat_jsonl(request, tmp_path_factory) -> Path:
    """The YOLO11n-pose keypoints of squat.mp4 at 320 px (kept in pytest's cache folder: ~40 s to make)."""
    if not (CLIPS / "squat.mp4").exists() or not POSE_WEIGHTS.exists():
        pytest.skip("../shared clips / yolo11n-pose weights absent")
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("analytics-yolo")) if cache else tmp_path_factory.mktemp("analytics-yolo")
    path = folder / "squat-yolo11n-pose-320.jsonl"
    if not path.exists():
        record_yolo_poses(CLIPS / "squat.mp4", path, imgsz=320)
    return path


def _main_track(rec: PoseRecording) -> int:
    counts: dict[int, int] = {}
    for p in rec.poses:
        for t in p.track_ids.tolist():
            counts[t] = counts.get(t, 0) + 1
    return max(counts, key=counts.get)


def _write_jsonl(rec: PoseRecording, path: Path) -> Path:
    with open(path, "w") as f:
        for frame, t, poses in zip(rec.frames, rec.timestamps, rec.poses):
            f.write(json.dumps({"frame": int(frame), "timestamp": float(t), "persons": poses.to_records()}) + "\n")
    return path


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_analyze_counts_the_squat_clip_exactly_and_writes_csv_events_plot_trc_smoothed(squat_jsonl, tmp_path):
    import cv2
    import pandas as pd

    out = tmp_path / "out"
    r = cli("analyze", squat_jsonl, "--exercise", "squat", "--json", out / "events.jsonl", "--csv", out / "angles.csv",
            "--plot", out / "angles.png", "--trc", out / "markers.trc", "--smoothed", out / "smoothed.jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    events = [e for e in lines if e["type"] == "rep"]
    main = _main_track(read_poses(squat_jsonl))
    summary = {e["track_id"]: e for e in lines if e["type"] == "summary"}
    assert summary[main]["reps"] == SQUAT_REPS and 1.0 < summary[main]["tempo_s"] < 2.5
    assert 80 < summary[main]["rom_deg"] < 130
    assert [e["track_id"] for e in events] == [main] * SQUAT_REPS, events
    for e, bottom in zip(events, SQUAT_BOTTOMS):
        assert set(e) >= {"type", "exercise", "track_id", "start", "end", "min_angle", "max_angle", "duration"}
        assert e["type"] == "rep" and e["exercise"] == "squat"
        assert e["start"] < bottom < e["end"] and math.isclose(e["duration"], e["end"] - e["start"], abs_tol=1e-3)
        assert 40 < e["min_angle"] < 80 and e["max_angle"] >= 150
    assert "3" in r.stdout and "squat" in r.stdout  # the summary table
    table = pd.read_csv(out / "angles.csv")
    assert list(table.columns[:3]) == ["frame", "timestamp", "track_id"]
    assert {"left_knee", "right_knee", "left_hip", "left_elbow", "left_shoulder", "left_shank", "trunk",
            "reps"} <= set(table.columns)
    assert not table.duplicated(["frame", "track_id"]).any()
    person = table[table.track_id == main]
    assert person.reps.iloc[-1] == SQUAT_REPS and person.reps.is_monotonic_increasing
    knee = person.left_knee.dropna()
    assert knee.between(0, 180).all() and knee.min() < 70 and knee.max() > 165
    image = cv2.imread(str(out / "angles.png"))
    assert image is not None and image.shape[0] > 200 and image.std() > 10
    raw, smooth = read_poses(squat_jsonl), read_poses(out / "smoothed.jsonl")  # the schema of video --json
    assert (smooth.frames == raw.frames).all() and (smooth.timestamps == raw.timestamps).all()

    def acceleration(rec):
        k = np.stack([p.keypoints[p.track_ids == main][0] for p in rec.poses if main in p.track_ids])[:, 5:, :2]
        return np.abs(k[2:] - 2 * k[1:-1] + k[:-2]).mean()

    assert acceleration(smooth) < 0.5 * acceleration(raw)
    trc = (out / "markers.trc").read_text().splitlines()
    assert trc[0].startswith("PathFileType\t4") and "left_knee" in trc[3]
    first = trc[6].split("\t")
    assert first[4] == "0.00" and float(first[3]) < 0  # z = 0, y up (= -image y)


def test_csv_input_gives_the_same_reps(squat_jsonl, tmp_path):
    from transpose_live.pipeline.csv_writer import CsvWriter
    from transpose_live.pipeline.sources import Frame

    rec = read_poses(squat_jsonl)
    writer = CsvWriter(tmp_path / "poses.csv")
    for frame, t, poses in zip(rec.frames, rec.timestamps, rec.poses):
        writer.write(Frame(int(frame), None, float(t), 0.0), poses)
    writer.close()
    from_csv = read_poses(tmp_path / "poses.csv")
    assert from_csv.keypoints.names == rec.keypoints.names
    squat = load_exercise("squat")
    a, b = analyze(rec, squat), analyze(from_csv, squat)
    assert [e["start"] for e in a.events()] == [e["start"] for e in b.events()]
    assert len(a.events()) == SQUAT_REPS


def test_empty_csv_cells_are_missing_keypoints_as_nan_in_jsonl(squat_jsonl, tmp_path, capsys):
    """A CSV edited in a spreadsheet (blank cells) reads as the JSONL with NaN there: missing keypoints
    (x, y NaN, score 0); `analyze` counts the same reps from both (issue #28: it refused the CSV)."""
    import csv

    from transpose_live.cli import main
    from transpose_live.pipeline.csv_writer import CsvWriter
    from transpose_live.pipeline.sources import Frame

    rec = read_poses(squat_jsonl)
    writer = CsvWriter(tmp_path / "full.csv")
    for frame, t, poses in zip(rec.frames, rec.timestamps, rec.poses):
        writer.write(Frame(int(frame), None, float(t), 0.0), poses)
    writer.close()
    wrist, ear = rec.keypoints.names.index("right_wrist"), rec.keypoints.names.index("left_ear")
    with open(tmp_path / "full.csv", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    for n, row in enumerate(rows[1:]):
        for column in ("right_wrist_x", "right_wrist_y", "right_wrist_score"):  # a joint never measured
            row[header.index(column)] = ""
        if n % 3 == 0:
            row[header.index("left_ear_score")] = ""  # one blank cell of a keypoint
    with open(tmp_path / "blanks.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    nan_poses = []
    for p in rec.poses:  # the same holes as NaN in the JSONL
        k = p.keypoints.copy()
        k[:, wrist] = np.nan
        nan_poses.append(p.with_(keypoints=k))
    blanks = read_poses(tmp_path / "blanks.csv")
    nan_jsonl = read_poses(_write_jsonl(PoseRecording(rec.frames, rec.timestamps, nan_poses, rec.keypoints),
                                        tmp_path / "nan.jsonl"))
    for a, b in zip(blanks.poses, nan_jsonl.poses):
        assert np.isnan(a.keypoints[:, wrist, :2]).all() and (a.keypoints[:, wrist, 2] == 0).all()
        assert np.array_equal(a.keypoints[:, wrist], b.keypoints[:, wrist], equal_nan=True)
    ears = np.concatenate([p.keypoints[:, ear] for p in blanks.poses])
    assert np.isnan(ears[:, 0]).sum() == len(range(0, len(rows) - 1, 3)) and (ears[np.isnan(ears[:, 0]), 2] == 0).all()
    for path in (tmp_path / "blanks.csv", tmp_path / "nan.jsonl"):
        assert main(["analyze", str(path), "--exercise", "squat", "--json", str(path.with_suffix(".reps.jsonl"))]) == 0
        lines = [json.loads(line) for line in path.with_suffix(".reps.jsonl").read_text().splitlines()]
        assert [e["type"] for e in lines].count("rep") == SQUAT_REPS
    capsys.readouterr()


def _blank(rec: PoseRecording, track: int, joints, t0: float, t1: float) -> PoseRecording:
    poses = []
    for t, p in zip(rec.timestamps, rec.poses):
        k = p.keypoints.copy()
        if t0 <= t <= t1:
            for j in joints:
                k[p.track_ids == track, j, 2] = 0.0
        poses.append(p.with_(keypoints=k))
    return PoseRecording(rec.frames, rec.timestamps, poses, rec.keypoints)


@pytest.mark.parametrize("smooth,max_gap,span", [("rts", 10, (5.5, 5.75)), ("none", 0, (5.3, 6.2)),
                                                  ("rts", 10, (4.6, 5.0))])
def test_a_knee_dropping_out_mid_rep_adds_or_loses_no_rep(squat_jsonl, smooth, max_gap, span):
    """Both knees' scores 0 for a span: at the bottom of rep 2 (filled: 8 frames), through its bottom and
    half the way up (not filled: NaN angles, the counter holds its state), or while going down."""
    rec = read_poses(squat_jsonl)
    main = _main_track(rec)
    holed = _blank(rec, main, (13, 14), *span)
    result = analyze(holed, load_exercise("squat"), smooth=smooth, max_gap=max_gap)
    reps = [t for t in result.tracks if t.series.track_id == main][0].counter.reps
    assert len(reps) == SQUAT_REPS
    angles = [t for t in result.tracks if t.series.track_id == main][0]
    inside = (angles.series.times >= span[0]) & (angles.series.times <= span[1])
    if max_gap == 0:
        assert np.isnan(angles.angles[inside, 0]).all()  # NaN, never 0, below --kpt-thr


def _intruder(rec: PoseRecording, main: int, shift_x: float, first: int, last: int, track_id: int) -> PoseRecording:
    """The squatter's own poses of frames 140..(140 + last - first), moved sideways by shift_x (and
    drifting across the frame), merged into frames first..last as another person."""
    poses = list(rec.poses)
    for n, row in enumerate(range(first, last + 1)):
        src = rec.poses[140 + n]
        other = src.select(src.track_ids == main)
        dx = shift_x - 3.0 * n
        k = other.keypoints.copy()
        k[..., 0] += dx
        b = other.boxes.copy()
        b[:, [0, 2]] += dx
        other = Poses(k, b, other.box_scores, np.full(len(other), track_id))
        mine = poses[row]
        poses[row] = Poses(np.concatenate([mine.keypoints, other.keypoints]), np.concatenate([mine.boxes, other.boxes]),
                           np.concatenate([mine.box_scores, other.box_scores]),
                           np.concatenate([mine.track_ids, other.track_ids]))
    return PoseRecording(rec.frames, rec.timestamps, poses, rec.keypoints)


def test_a_second_person_does_not_change_the_count_file_and_live(squat_jsonl):
    """A second (squatting) person crossing the frame during the first two reps: the first person's
    count stays 3 in `analyze` (ids from the file) and live (ids from the PoseTracker, counts from
    LiveExercise fed frame by frame)."""
    from transpose_live.analytics.live import LiveExercise
    from transpose_live.tracking import PoseTracker

    rec = read_poses(squat_jsonl)
    main = _main_track(rec)
    both = _intruder(rec, main, -380.0, 40, 200, 99)
    result = analyze(both, load_exercise("squat"))
    counts = {t.series.track_id: t.count for t in result.tracks}
    assert counts[main] == SQUAT_REPS and counts[99] >= 1

    live = LiveExercise(load_exercise("squat"))
    tracker = PoseTracker(smooth="one-euro")
    first_id = None
    for t, p in zip(both.timestamps, both.poses):
        untracked = Poses(p.keypoints, p.boxes, p.box_scores)  # the tracker gives the ids
        tracked = tracker.update(untracked, float(t))
        live.update(tracked, float(t))
        if first_id is None and len(tracked):
            first_id = int(tracked.track_ids[0])
    assert live.count(first_id) == SQUAT_REPS, live.summary()
    image = np.zeros((544, 960, 3), np.uint8)
    live.draw(image, tracked)  # the angle and "squat 3" on each person
    assert image.any()


def test_user_exercise_files_yaml_toml(squat_jsonl, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep squat\nangle: knee\nrest: 150\nactive: 53\nside: left\nmin_duration: 0.4\n")
    rec = read_poses(squat_jsonl)
    ex = load_exercise(str(deep))
    assert (ex.name, ex.angle, ex.rest, ex.active, ex.side, ex.min_duration) == ("deep squat", "knee", 150, 53,
                                                                                  "left", 0.4)
    result = analyze(rec, ex)
    deep_reps = result.events()
    # the left knee bottoms out at ~58, ~51 and ~55 degrees: only the second squat is that deep
    assert len(deep_reps) == 1 and deep_reps[0]["min_angle"] <= 53 and deep_reps[0]["side"] == "left"
    assert deep_reps[0]["start"] < SQUAT_BOTTOMS[1] < deep_reps[0]["end"]
    both = analyze(rec, load_exercise("squat", side="both")).events()  # each knee counted on its own
    assert sorted(e["side"] for e in both) == ["left"] * SQUAT_REPS + ["right"] * SQUAT_REPS
    toml = tmp_path / "squat.toml"
    toml.write_text('angle = "knee"\nrest = 150\nactive = 100\n')
    assert len(analyze(rec, load_exercise(str(toml))).events()) == SQUAT_REPS


@pytest.mark.parametrize("text,needle", [
    ("angle: knee\nrest: 150\nactive: 100\nspeed: 3\n", "unknown key 'speed'"),
    ("angle: neck\nrest: 150\nactive: 100\n", "angle 'neck'"),
    ("angle: knee\nrest: 150\nactive: 148\n", "must differ"),
    ("angle: knee\nrest: 250\nactive: 100\n", "outside [0, 180]"),
    ("angle: knee\nactive: 100\n", "'rest' is missing"),
    ("angle: knee\nrest: 150\nactive: 100\nside: up\n", "side must be"),
    ("angle: [knee\n", "cannot parse"),
])
def test_bad_exercise_files_are_one_line_errors(tmp_path, capsys, text, needle):
    from transpose_live.cli import main

    path = tmp_path / "ex.yaml"
    path.write_text(text)
    poses = tmp_path / "p.jsonl"
    poses.write_text('{"frame": 0, "timestamp": 0.0, "persons": []}\n')
    one_line_error(capsys, 2, main(["analyze", str(poses), "--exercise", str(path)]), needle)


def test_outputs_never_overwrite_the_input_and_bad_inputs_are_one_line(tmp_path, capsys):
    from transpose_live.cli import main

    poses = tmp_path / "p.jsonl"
    poses.write_text('{"frame": 0, "timestamp": 0.0, "persons": []}\n')
    before = poses.read_bytes()
    one_line_error(capsys, 2, main(["analyze", str(poses), "--csv", str(poses)]), "is the input")
    assert poses.read_bytes() == before
    one_line_error(capsys, 2, main(["analyze", str(poses), "--exercise", "burpee"]), "unknown exercise")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    one_line_error(capsys, 2, main(["analyze", str(tmp_path / "bad.jsonl")]), "line 1")
    one_line_error(capsys, 2, main(["analyze", str(tmp_path / "missing.csv")]), "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "p.jsonl"]
