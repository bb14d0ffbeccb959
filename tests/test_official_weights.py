"""`--weights official` (and `train --init official`) for every command that takes it, through the
loopback weights mirror (TRANSPOSE_LIVE_WEIGHTS_URL, tests/weights_mirror.py): each test starts from an
empty cache, so the command itself must find the official file name on the mirror, download it and use it.

Inputs are tiny (a few frames, one image, tp_r_a3, --detector none where the detector is not the point).
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from helpers import CLIPS, COCO_MINI, require_shared
from transpose_live.cli import main
from transpose_live.models import download
from transpose_live.models.registry import MODELS

SPEC = MODELS["tp_r_a3"]
POSE = ["--model", "tp_r_a3", "--weights", "official", "--device", "cpu"]
RUN = [*POSE, "--detector", "none", "--no-progress", "--threads", "1"]
IMAGE = COCO_MINI / "val2017" / "000000000139.jpg"
CLIP = CLIPS / "squat.mp4"


@pytest.fixture(autouse=True)
def _shared():
    require_shared(CLIP)
    require_shared(IMAGE)


def fetched_once(mirror) -> None:
    """The command downloaded the official tp_r_a3 file from the mirror exactly once, into the cache."""
    assert mirror.requests == [(f"/{SPEC.checkpoint}", None)]
    cached = download.cache_dir() / SPEC.checkpoint
    assert cached.read_bytes() == mirror.file(SPEC.checkpoint).read_bytes()
    assert download.recorded_hashes() == {SPEC.checkpoint: download.sha256_of(cached)}


def json_frames(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_image(weights_mirror, tmp_path):
    out = tmp_path / "poses.jsonl"
    assert main(["image", str(IMAGE), *RUN, "--json", str(out)]) == 0
    fetched_once(weights_mirror)
    (frame,) = json_frames(out)
    assert len(frame["persons"]) == 1


@pytest.mark.parametrize("command", [["video", str(CLIP)], ["webcam", "--camera", str(CLIP), "--no-show"]])
def test_video_and_webcam_file(weights_mirror, tmp_path, command):
    out = tmp_path / "poses.jsonl"
    assert main([*command, *RUN, "--max-frames", "3", "--json", str(out)]) == 0
    fetched_once(weights_mirror)
    assert len(json_frames(out)) == 3


def test_export_onnx_runs_and_names_the_official_file(weights_mirror, tmp_path):
    out = tmp_path / "tp_r_a3.onnx"
    assert main(["export", "tp_r_a3", "--weights", "official", "--format", "onnx", "--out", str(out)]) == 0
    fetched_once(weights_mirror)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["weights"] == "official"
    assert meta["weights_sha256"] == download.sha256_of(weights_mirror.file(SPEC.checkpoint))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (heatmaps,) = session.run(None, {"crops": np.zeros((2, 3, 256, 192), np.float32)})
    assert heatmaps.shape == (2, 17, 64, 48) and np.isfinite(heatmaps).all()


def test_eval(weights_mirror, tmp_path):
    metrics = tmp_path / "metrics.json"
    rc = main(["eval", "--images", str(COCO_MINI / "val2017"), "--annotations",
               str(COCO_MINI / "annotations" / "person_keypoints_val2017.json"), "--gt-boxes", "--max-images", "2",
               "--no-flip-test", *POSE, "--no-progress", "--metrics-out", str(metrics)])
    assert rc == 0
    fetched_once(weights_mirror)
    assert "AP" in json.loads(metrics.read_text())["metrics"]


def test_explain(weights_mirror, tmp_path):
    out = tmp_path / "panel.png"
    assert main(["explain", str(IMAGE), "--box", "300,150,460,420", *POSE, "--keypoints", "nose",
                 "--out", str(out)]) == 0
    fetched_once(weights_mirror)
    assert out.stat().st_size > 1000


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_batch(weights_mirror, tmp_path):
    out = tmp_path / "out"
    assert main(["batch", str(IMAGE), "--out-dir", str(out), "--workers", "1", *RUN]) == 0
    # the driver resolves the official file once; the worker reads it from the cache
    assert [p for p, _ in weights_mirror.requests] == [f"/{SPEC.checkpoint}"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary.get("failed", 0) == 0, summary


def test_bench_pipeline(weights_mirror, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--pipeline", str(CLIP), "--models", "tp_r_a3", "--weights", "official", "--device", "cpu",
                 "--detector", "none", "--max-frames", "3", "--no-render", "--threads", "1", "--json", str(out)]) == 0
    fetched_once(weights_mirror)
    assert out.stat().st_size > 0


def test_weights_download_then_verify(weights_mirror, capsys):
    assert main(["weights", "download", "tp_r_a3"]) == 0
    fetched_once(weights_mirror)
    assert main(["weights", "verify", "official", "--model", "tp_r_a3"]) == 0
    out = capsys.readouterr().out
    assert f"fits tp_r_a3; sha256 {download.sha256_of(download.cache_dir() / SPEC.checkpoint)}" in out
    assert len(weights_mirror.requests) == 1  # verify found it in the cache


def test_train_init_official(weights_mirror, tmp_path, capsys):
    from helpers import coco_subset, single_person_images, train_args

    val = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
    ann = coco_subset(val, tmp_path / "two.json", single_person_images(val, count=2))  # 2 people: 1 step
    args = [str(a) for a in train_args(ann, tmp_path / "run")]
    args[args.index("--init") + 1] = "official"
    rc = main([*args, "--repeat", "1"])
    assert rc == 0, capsys.readouterr().err
    fetched_once(weights_mirror)
    assert (tmp_path / "run" / "last.pth").is_file()
    captured = capsys.readouterr()
    assert f"official {SPEC.checkpoint}" in captured.out + captured.err
