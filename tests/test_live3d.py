"""Live multi-camera 3D (`webcam --calibration --json3d`, issue #31): the shared 4-camera recording
(../shared/data/multiview) served as 4 synchronised MJPEG cameras on 127.0.0.1 at full size (the
calibration's pixels), YOLO11n-pose keypoints (`--model detector`), triangulated live."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from analytics_clips import POSE_WEIGHTS
from helpers import SHARED, cli, require_shared
from live_servers import MjpegCamera, clip_jpegs

from transpose_live.keypoints import COCO17
from transpose_live.triangulation.metrics import first_person_points, leg_lengths

MULTIVIEW = SHARED / "data" / "multiview"
QCA = MULTIVIEW / "calibration" / "Calib.qca.txt"
FPS = 10.0


@pytest.fixture(scope="module")
def cameras():
    require_shared(QCA)
    require_shared(POSE_WEIGHTS)
    clock = time.perf_counter() + 1.0
    cams = [MjpegCamera(clip_jpegs(MULTIVIEW / "videos" / f"cam0{i}.mp4", count=20, width=1080), fps=FPS,
                        clock=clock).start() for i in range(1, 5)]
    yield cams
    for cam in cams:
        cam.stop()


def webcam_3d(cameras, out, *extra):
    args = [a for i, cam in enumerate(cameras, 1) for a in ("--camera", f"cam0{i}={cam.url}")]
    return cli("webcam", *args, "--model", "detector", "--detector-weights", POSE_WEIGHTS, "--detector-backend",
               "torch", "--device", "cpu", "--no-show", "--no-progress", "--calibration", QCA, "--json3d", out, *extra)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_four_live_cameras_triangulate_with_human_legs_and_report_skew(cameras, tmp_path):
    out = tmp_path / "live3d.jsonl"
    r = webcam_3d(cameras, out, "--max-frames", "5")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    seen = [rec for rec in lines if rec["persons"]]
    assert len(seen) >= 3, lines
    # synchronised cameras: the views of a tick were captured well within half a frame period
    skews = np.array([rec["skew"] for rec in seen])
    assert np.isfinite(skews).all() and np.median(skews) < 0.5 / FPS
    assert sum(len(rec["late"]) for rec in seen) <= len(seen)  # at most one camera a tick misses, on average
    legs = leg_lengths(first_person_points(seen), COCO17)
    assert all(v is not None and 0.25 <= v <= 0.6 for v in legs.values()), legs
    summary = re.search(r"3D: (\d+) of (\d+) frames triangulated, median skew ([\d.]+) ms", r.stderr)
    assert summary, r.stderr
    assert int(summary.group(1)) == len(seen) and int(summary.group(2)) == len(lines)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_camera_count_must_match_the_calibration(cameras, tmp_path):
    """Unnamed cameras map to the calibration's by order: 2 cameras against 4 calibrated is one line, before
    any model loads, and nothing is written."""
    out = tmp_path / "live3d.jsonl"
    r = cli("webcam", "--camera", cameras[0].url, "--camera", cameras[1].url, "--model", "detector",
            "--detector-weights", POSE_WEIGHTS, "--no-show", "--calibration", QCA, "--json3d", out)
    assert r.returncode == 2
    assert "has 4 cameras" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
