"""The one frame stream: several sources through one model per tick, the cross-source sink and the
after-run hook; the writers' one close order under two quick Ctrl-C; options checked before loading."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CLIPS, count_frames, lines_written, one_line_error, require_shared, write_clip

from transpose_live.cli import main


def _clip(tmp_path_factory, name: str, frames: int) -> Path:
    """The first `frames` frames of a shared clip, re-encoded as mp4."""
    require_shared(CLIPS / name)
    path = tmp_path_factory.mktemp("clip") / f"{Path(name).stem}.mp4"
    write_clip(path, CLIPS / name, frames)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _clip(tmp_path_factory, "exercise.avi", 40)


@pytest.fixture(scope="module")
def tall_clip(tmp_path_factory):
    """720x1280: the H.264 encoder holds frames it flushes on close, so a close takes a while."""
    return _clip(tmp_path_factory, "dance.mp4", 90)


def test_two_files_one_batch_per_tick_with_a_cross_source_sink_and_an_after_run_hook(clip, filled_checkpoint,
                                                                                        tmp_path):
    """Two file sources: every tick holds both sources' frames (files are read in order, each waited
    for), their crops go through the model in one `estimate_batch`, each source writes its own JSONL
    (camera fields set), the tick sink sees every tick with both timestamps and is closed with the
    writers, and the after-run hook gets the published JSONL paths."""
    from transpose_live.engine import PoseEstimator
    from transpose_live.pipeline import JsonlWriter, PipelineOptions, StreamInput, WholeFrameDetector, open_video
    from transpose_live.pipeline import run_stream
    from transpose_live.tracking import PoseTracker

    class CountingEstimator(PoseEstimator):
        batches: list = []

        def estimate_batch(self, frames, boxes, scores=None, return_attention=False):
            self.batches.append(len(frames))
            return super().estimate_batch(frames, boxes, scores, return_attention)

    class TickLog:
        def __init__(self):
            self.ticks, self.state = [], "open"

        def write_tick(self, tick):
            self.ticks.append([(item.source.name, item.frame.index, item.frame.timestamp, len(item.poses))
                               for item in tick.items])

        def close(self):
            self.state = "closed"

        def abort(self):
            self.state = "aborted"

    estimator = CountingEstimator(model="tp_r_a3", weights=filled_checkpoint("tp_r_a3"), device="cpu")
    inputs = [StreamInput(open_video(clip), [JsonlWriter(tmp_path / f"{name}.jsonl")], PoseTracker(), name=name)
              for name in ("left", "right")]
    sink, published = TickLog(), []
    result = run_stream(inputs, estimator, WholeFrameDetector(), PipelineOptions(progress=False, max_frames=6),
                        tick_sinks=[sink], after_run=[published.append])
    assert CountingEstimator.batches == [2] * 6
    assert sink.state == "closed" and len(sink.ticks) == 6
    assert all([(name, i) for name, i, _, _ in tick] == [("left", n), ("right", n)] for n, tick in enumerate(sink.ticks))
    assert all(tick[0][2] == tick[1][2] for tick in sink.ticks)  # the same clip: the same timestamps
    assert published == [{"left": [tmp_path / "left.jsonl"], "right": [tmp_path / "right.jsonl"]}]
    for i, name in enumerate(("left", "right")):
        records = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert [(r["frame"], r["camera"], r["camera_name"]) for r in records] == [(n, i, name) for n in range(6)]
    assert result.frames == 12 and [s.frames for s in result.sources] == [6, 6]
    assert "source 0 (left): 6 frames" in result.summary()


def _start(args: list, tmp_path: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    return subprocess.Popen([sys.executable, "-m", "transpose_live", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("gap", [0.05, 0.2])
def test_two_ctrl_c_apart_still_close_every_output(gap, tall_clip, common, tmp_path):
    """Issue 28: two Ctrl-C `gap` s apart on a real `video` run: exit 130 with one line, the mp4 and the
    JSONL under their final names, readable and consistent, no hidden `.partial` file left (the second
    signal came while the outputs were closing: it skips what is queued, never the close)."""
    out, js = tmp_path / "int.mp4", tmp_path / "int.jsonl"
    proc = _start(["video", tall_clip, "--out", out, "--json", js, *common], tmp_path)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and lines_written(js) < 2:
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: interrupted"), err
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(records) >= 2 and [r["frame"] for r in records] == list(range(len(records)))
    assert count_frames(out)[0] == len(records)
    assert not [p.name for p in tmp_path.iterdir() if ".partial" in p.name]


@pytest.mark.parametrize("bad", ["weights", "serve", "busy port"])
def test_options_are_checked_before_any_model_loads(bad, clip, common, tmp_path, monkeypatch, capsys):
    """Issue 28: a missing checkpoint, `--serve nonsense` and a busy port are one-line errors before the
    detector is exported or any model loaded: the (empty) export cache stays empty."""
    monkeypatch.setenv("TRANSPOSE_LIVE_CACHE", str(tmp_path / "cache"))
    args = ["video", clip, "--json", tmp_path / "o.jsonl", *common, "--detector-backend", "openvino"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        if bad == "weights":
            args += ["--weights", tmp_path / "missing.pth"]
            needle = "missing.pth"
        elif bad == "serve":
            args += ["--serve", "nonsense"]
            needle = "--serve"
        else:
            args += ["--serve", f"127.0.0.1:{taken.getsockname()[1]}"]
            needle = "cannot listen"
        rc = main([str(a) for a in args])
    one_line_error(capsys, 2, rc, needle)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*")) == []
    assert not (tmp_path / "o.jsonl").exists()
