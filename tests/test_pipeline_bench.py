"""`transpose-live bench --pipeline CLIP --peer yolo11n-pose.pt`: both pipelines on the same frames
and threads in one run, fps of both and their ratio in the JSON; and the benchmark script's goals."""

from __future__ import annotations

import json

import pytest

from helpers import CLIPS, DETECTOR_WEIGHTS, require_shared, write_clip
from transpose_live.cli import main


def test_bench_pipeline_with_peer_writes_both_fps_and_ratio(tmp_path, capsys, monkeypatch):
    require_shared(DETECTOR_WEIGHTS)
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 3)
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "b.json"
    rc = main(["bench", "--pipeline", str(clip), "--models", "tp_r_a3", "--device", "cpu", "--detector-weights",
               str(DETECTOR_WEIGHTS), "--peer", str(DETECTOR_WEIGHTS), "--threads", "2", "--no-render",
               "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads(out.read_text())
    ours, peer = data["pipeline"], data["peer"]
    assert ours["frames"] == peer["frames"] == 3 and ours["persons"] == 9 and peer["persons"] >= 9
    from transpose_live.backends.precision import cpu_precision, cpu_runtime

    assert ours["threads"]["cores"] == peer["threads"]["cores"] == 2 and ours["backend"] == cpu_runtime()
    # the same cores: the peer's torch runs its model on both; ours runs its models on the exported runtime's
    # two threads, and torch, which only crops and decodes between them, on one (runtime.threads.glue_only_torch)
    assert peer["threads"]["torch"] == 2 and ours["threads"]["runtime"] == 2
    assert ours["threads"]["torch"] == (1 if ours["backend"] != "torch" else 2)
    assert ours["precision"] == (cpu_precision().auto if ours["backend"] == "openvino" else "fp32")
    assert ours["fps"] > 0 and peer["fps"] > 0
    assert data["ratio"] == pytest.approx(ours["fps"] / peer["fps"], rel=1e-2)
    assert ours["stages"]["render"]["calls"] == 0 and "ratio" in captured.out


def test_peer_needs_a_pipeline_and_an_existing_file(tmp_path, capsys):
    assert main(["bench", "--peer", str(tmp_path / "x.pt"), "--device", "cpu"]) == 2
    assert "--pipeline" in capsys.readouterr().err
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 1)
    assert main(["bench", "--pipeline", str(clip), "--peer", str(tmp_path / "x.pt"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --peer weights not found") and err.count("\n") == 1


def test_benchmark_script_goals_read_the_measurements():
    """The goal lines of benchmarks/pipeline_cpu.py are computed from the runs it recorded."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline_cpu.py"
    spec = importlib.util.spec_from_file_location("pipeline_cpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(clip, condition, render, fps, peer_fps):
        stages = {s: dict(ms_per_call=10.0, ms_per_frame=10.0) for s in ("decode", "detect", "pose", "smooth")}
        ours = dict(fps=fps, frames=10, persons=10, detector_runs=10, stages=stages)
        return dict(clip=clip, condition=condition, render=render, det_every=1, ours=ours,
                    peer=dict(fps=peer_fps), ratio=fps / peer_fps)

    skipping = dict(run("squat.mp4", "quiet", False, 20.0, 10.0), det_every=5, peer=None, ratio=None)
    payload = dict(runs=[run("squat.mp4", "quiet", False, 12.0, 10.0), run("squat.mp4", "load", False, 6.0, 5.0),
                         run("squat.mp4", "quiet", True, 7.0, 10.0), skipping], pose_alone_ms={"squat.mp4": 9.0})
    text = "\n".join(module.goals(payload))
    assert "squat.mp4 (1 person), no frame skipping, ratio to the peer: **1.20** (goal >= 1.3) NOT met" in text
    assert "--det-every 5, ratio to the peer (which detects every frame): **2.00** (goal >= 1.8) met" in text
    assert "share of its quiet fps: **0.50** (goal >= 0.7) NOT met" in text
    assert "exercise.avi (3 people), no frame skipping, ratio to the peer: not measured" in text
    assert "**1.11x** (goal <= 1.15)" in text
