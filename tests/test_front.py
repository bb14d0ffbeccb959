"""`bench --front`: the speed-accuracy front on a short clip (our model, YOLO11n-pose trained, YOLO26n-pose built
from its yaml), its JSON, table and plot; the published AP it shows; one-line errors."""

from __future__ import annotations

import json

import pytest

from helpers import CLIPS, DETECTOR_WEIGHTS, cli, one_line_error, require_shared
from transpose_live.bench.front import FRONT_MODELS, YOLO_POSE_AP, front_precisions, front_runs, parse_front_models


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    require_shared(CLIPS / "exercise.avi")
    require_shared(DETECTOR_WEIGHTS)
    from media_helpers import cut_clip

    path = tmp_path_factory.mktemp("front") / "clip.mp4"
    cut_clip(CLIPS / "exercise.avi", path, 6)
    return path


@pytest.mark.slow
def test_front_runs_ours_and_both_yolo_families_and_writes_json_and_plot(clip, tmp_path):
    out, png = tmp_path / "front.json", tmp_path / "front.png"
    r = cli("bench", "--front", clip, "--models", "tp_r_a3,yolo11n-pose,yolo26n-pose", "--precision", "fp32",
            "--backend", "torch", "--detector-backend", "torch", "--detector-weights", DETECTOR_WEIGHTS,
            "--max-frames", "3", "--no-render", "--json", out, "--plot", png)
    assert r.returncode == 0, r.stderr
    records = {rec["model"]: rec for rec in json.loads(out.read_text())["front"]["records"]}
    assert set(records) == {"tp_r_a3", "yolo11n-pose", "yolo26n-pose"}
    assert records["tp_r_a3"]["ap"] == 71.7 and records["tp_r_a3"]["family"] == "TransPose (fp32)"
    assert records["yolo11n-pose"]["weights"] == "trained" and records["yolo11n-pose"]["ap"] == 50.0
    assert records["yolo26n-pose"]["weights"].startswith("untrained (yaml)")
    assert all(rec["frames"] == 3 and rec["fps"] > 0 for rec in records.values())
    assert records["yolo11n-pose"]["persons_per_frame"] >= 2  # trained: the aerobics class is found
    assert records["tp_r_a3"]["pose_ms"] > 0 and records["yolo11n-pose"]["pose_ms"] < records["tp_r_a3"]["pose_ms"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "untrained (yaml), timing only" in r.stdout


def test_models_and_precisions_of_the_front():
    assert parse_front_models(None) == FRONT_MODELS
    assert len(YOLO_POSE_AP) == 8 and {m[:6] for m in YOLO_POSE_AP} == {"yolo11", "yolo26"}
    cpu = front_precisions()
    assert cpu[0] == "fp32" and front_precisions("fp32") == ("fp32",)
    runs = front_runs(("tp_r_a3", "yolo26m-pose"), "auto")
    assert [r.model for r in runs].count("tp_r_a3") == len(cpu) and runs[-1].family == "YOLO26-pose"


def test_front_errors_are_one_line(clip, tmp_path, capsys):
    from transpose_live.cli import main

    one_line_error(capsys, 2, main(["bench", "--front", str(clip), "--models", "yolo5-pose"]), "unknown yolo5-pose")
    one_line_error(capsys, 2, main(["bench", "--front", str(tmp_path / "none.mp4")]), "not found")
    one_line_error(capsys, 2, main(["bench", "--front", str(clip), "--json", str(clip)]), "input")
    one_line_error(capsys, 2, main(["bench", "--plot", str(tmp_path / "p.png")]), "--front")
