"""`--json -`: stdout carries records and nothing else, with the default CPU detector on OpenVINO, on the
first run (the detector exported into an empty cache) and through a real shell pipe closed early
(`| head -1`): no ultralytics chatter on stdout, no BrokenPipeError traceback on stderr (issue #28)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from helpers import CLIPS, DETECTOR_WEIGHTS, require_shared

pytest.importorskip("openvino")


def _video_cmd(frames: int) -> str:
    clip = require_shared(CLIPS / "squat.mp4")
    require_shared(DETECTOR_WEIGHTS)
    args = [sys.executable, "-m", "transpose_live", "video", str(clip), "--weights", "random", "--model", "tp_r_a3",
            "--device", "cpu", "--detector-weights", str(DETECTOR_WEIGHTS), "--detector-backend", "openvino",
            "--detector-imgsz", "320", "--max-frames", str(frames), "--no-progress", "--json", "-"]
    return shlex.join(args)


def _records(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    assert lines, "nothing on stdout"
    return [json.loads(line) for line in lines]  # any non-JSON line fails here


@pytest.mark.slow
def test_json_to_stdout_is_pure_records_on_the_first_run_and_through_head(tmp_path):
    env = dict(os.environ, TRANSPOSE_LIVE_CACHE=str(tmp_path / "cache"))
    env.pop("YOLO_VERBOSE", None)
    first = subprocess.run(["bash", "-c", _video_cmd(3)], capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert list((tmp_path / "cache" / "detectors").iterdir()), "the first run exports the detector"
    records = _records(first.stdout)
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert "Traceback" not in first.stderr
    # a real shell pipe that closes after the first line, while the run still writes
    piped = subprocess.run(["bash", "-c", f"set -o pipefail; {_video_cmd(40)} | head -1"], capture_output=True,
                           text=True, env=env, timeout=600)
    assert len(_records(piped.stdout)) == 1
    assert "Traceback" not in piped.stderr and "Logging error" not in piped.stderr, piped.stderr[-2000:]
    assert "BrokenPipe" not in piped.stderr
    assert piped.returncode == 0, piped.stderr[-2000:]  # a reader that stops early is not a failure
