"""Exported pose models (transpose_live.backends): `transpose-live export` to ONNX / OpenVINO,
outputs equal to the torch model on the conformance inputs, the exported file running the `video`
command, and one-line errors for a missing runtime, a mismatched file and attention requests."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import CLIPS, CONFORMANCE, assert_keypoints_agree, filled_model, require_shared, write_clip
from transpose_live.backends import export_model, read_metadata
from transpose_live.backends.metadata import file_sha256
from transpose_live.cli import main
from transpose_live.engine import PoseEstimator
from transpose_live.errors import UserError


def one_line_error(capsys, rc, needle):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err


@pytest.fixture(scope="module")
def exported(filled_checkpoint, tmp_path_factory):
    """tp_r_a3 with the conformance weights exported by the CLI to ONNX and to OpenVINO."""
    out = tmp_path_factory.mktemp("export")
    ckpt = filled_checkpoint("tp_r_a3")
    paths = {"onnx": out / "a3.onnx", "openvino": out / "a3_ov"}
    for fmt, path in paths.items():
        rc = main(["export", "tp_r_a3", "--weights", str(ckpt), "--format", fmt, "--out", str(path)])
        assert rc == 0
    return paths, ckpt


def _relative_error(got: torch.Tensor, ref: np.ndarray) -> float:
    return float(np.abs(got.numpy() - ref).max() / np.abs(ref).max())


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_exported_model_equals_torch_on_conformance_input(exported, fmt):
    paths, ckpt = exported
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    ref = np.load(CONFORMANCE / "tp_r_a3" / "heatmaps.npy")
    est = PoseEstimator("tp_r_a3", weights=str(paths[fmt]), device="cpu", precision="fp32")
    assert est.backend == ("onnxruntime" if fmt == "onnx" else "openvino") and est.precision == "fp32"
    assert _relative_error(est._forward(x), ref) < 1e-4
    with torch.inference_mode():
        ours = filled_model("tp_r_a3")(x)
    assert _relative_error(est._forward(x), ours.numpy()) < 1e-4
    # dynamic batch: one crop and five crops both run
    assert est._forward(x[:1]).shape == (1, 17, 64, 48)
    assert est._forward(x.repeat(3, 1, 1, 1)[:5]).shape == (5, 17, 64, 48)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_openvino_compiles_each_input_shape_statically_with_the_dynamic_models_outputs(exported):
    """Each batch size gets its own static compile (faster kernels), bounded, with the dynamic model's outputs."""
    from transpose_live.backends.runners import OpenVINORunner

    paths, _ = exported
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy"))).repeat(2, 1, 1, 1)
    static = OpenVINORunner(paths["openvino"] / "model.xml", threads=2)
    dynamic = OpenVINORunner(paths["openvino"] / "model.xml", threads=2, static_shapes=False)
    assert static.static_shapes and not dynamic.static_shapes
    for n in (1, 3, 1, 2):
        assert _share_apart(static(x[:n]), dynamic(x[:n])) <= 0.01
    shapes = sorted(s[0] for s, hit in static._by_shape.items() if hit is not None)
    assert shapes == [1, 2, 3] and not dynamic._by_shape
    static.STATIC_SHAPES = 3  # past the bound a new shape runs on the dynamic model, still correct
    assert _share_apart(static(x[:4]), dynamic(x[:4])) <= 0.01
    assert (4, 3, 256, 192) not in static._by_shape


def _share_apart(got: torch.Tensor, ref: torch.Tensor) -> float:
    """The share of heatmap values more than 0.1% of the heatmaps' peak apart (other kernels' rounding)."""
    assert got.shape == ref.shape
    return float(((got - ref).abs() > 1e-3 * ref.abs().max()).float().mean())


def test_metadata_describes_the_export(exported):
    paths, ckpt = exported
    for fmt, path in paths.items():
        meta = read_metadata(path)
        assert (meta.model, meta.format, meta.precision) == ("tp_r_a3", fmt, "fp32")
        assert tuple(meta.input_size) == (256, 192) and tuple(meta.heatmap_size) == (64, 48)
        assert meta.keypoints[0] == "nose" and len(meta.keypoints) == 17 and (1, 2) in meta.flip_pairs
        assert meta.weights_sha256 == file_sha256(ckpt)
    assert (paths["onnx"].with_suffix(".json")).is_file() and (paths["openvino"] / "model.xml").is_file()
    assert not [p for p in paths["onnx"].parent.iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_in_memory_backend_equals_torch_through_the_estimator(backend):
    """--backend onnxruntime/openvino with a checkpoint: exported at start-up; poses equal torch's."""
    name = "tp_h_s" if backend == "onnxruntime" else "tp_r_a3"
    model = filled_model(name)
    torch_est = PoseEstimator.from_module(filled_model(name), name, device="cpu", flip_test=True)
    est = PoseEstimator(name, weights=model, device="cpu", flip_test=True, backend=backend, precision="fp32")
    frame = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype(np.uint8)
    boxes = np.array([[20, 10, 150, 230], [160, 30, 300, 220]], np.float32)
    a, b = torch_est.estimate(frame, boxes).keypoints, est.estimate(frame, boxes).keypoints
    assert_keypoints_agree(b, a, atol=1e-2)  # another runtime's kernels: rounding, not poses, differs


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_runs_with_an_exported_model(exported, tmp_path):
    paths, _ = exported
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 4)
    js, out = tmp_path / "o.jsonl", tmp_path / "o.mp4"
    proc = subprocess.run([sys.executable, "-m", "transpose_live", "video", str(clip), "--model", "tp_r_a3",
                           "--weights", str(paths["onnx"]), "--device", "cpu", "--detector", "none",
                           "--threads", "2", "--json", str(js), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3]
    assert all(len(r["persons"]) == 1 and len(r["persons"][0]["keypoints"]) == 17 for r in records)
    assert out.stat().st_size > 0


def test_mismatched_files_are_one_line_errors(exported, tmp_path, capsys):
    paths, _ = exported
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 2)
    base = ["video", str(clip), "--device", "cpu", "--detector", "none", "--no-progress"]
    rc = main([*base, "--model", "tp_r_a4", "--weights", str(paths["onnx"])])
    one_line_error(capsys, rc, "exported from tp_r_a3")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    bad.with_suffix(".json").write_text(paths["onnx"].with_suffix(".json").read_text())
    rc = main([*base, "--model", "tp_r_a3", "--weights", str(bad)])
    one_line_error(capsys, rc, "onnxruntime cannot load")
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(paths["onnx"].read_bytes())
    rc = main([*base, "--model", "tp_r_a3", "--weights", str(lone)])
    one_line_error(capsys, rc, "no metadata file")
    rc = main([*base, "--model", "tp_r_a3", "--weights", str(paths["openvino"]), "--backend", "onnxruntime"])
    one_line_error(capsys, rc, "--backend openvino")
    rc = main([*base, "--model", "tp_r_a3", "--weights", str(paths["onnx"]), "--backend", "torch"])
    one_line_error(capsys, rc, "exported model")


def test_broken_export_and_model_less_folders_say_what_is_missing(exported, tmp_path, capsys):
    """A truncated model.bin names the broken weights (issue #28: the message stopped at OpenVINO's
    "Exception from src/inference/...:84:"); a folder without an export says what it lacks and what it holds."""
    import shutil

    paths, ckpt = exported
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 2)
    base = ["video", str(clip), "--device", "cpu", "--detector", "none", "--no-progress", "--json", str(tmp_path / "o.jsonl")]
    cut = shutil.copytree(paths["openvino"], tmp_path / "cut")
    with open(cut / "model.bin", "r+b") as f:
        f.truncate((cut / "model.bin").stat().st_size // 2)
    one_line_error(capsys, main([*base, "--weights", str(cut)]), "Incorrect weights in bin file")
    (cut / "model.bin").unlink()
    one_line_error(capsys, main([*base, "--weights", str(cut)]), "model.bin is missing, truncated or from another export")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(capsys, main([*base, "--weights", str(empty)]), "model.xml and model.bin missing (it is empty)")
    shutil.copy(ckpt, empty / "mine.pth")
    one_line_error(capsys, main([*base, "--weights", str(empty)]), "(it holds mine.pth: pass one of them)")
    assert not (tmp_path / "o.jsonl").exists()  # nothing written by the failed runs


def test_attention_needs_the_torch_backend(exported, tmp_path, capsys):
    paths, _ = exported
    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 2)
    rc = main(["video", str(clip), "--device", "cpu", "--detector", "none", "--no-progress", "--model", "tp_r_a3",
               "--weights", str(paths["onnx"]), "--attention", "left_wrist"])
    one_line_error(capsys, rc, "need the torch backend")
    est = PoseEstimator("tp_r_a3", weights=str(paths["onnx"]), device="cpu")
    with pytest.raises(UserError, match="torch backend"):
        est.estimate(np.zeros((64, 64, 3), np.uint8), [[0, 0, 60, 60]], return_attention=True)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_missing_openvino_is_a_one_line_install_hint(tmp_path):
    """OpenVINO hidden from the interpreter (a stub package that fails to import, first on the path)."""
    stub = tmp_path / "stub" / "openvino"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('openvino hidden by the test')\n")
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "transpose_live", "export", "tp_r_a3", "--weights", "random",
                           "--format", "openvino", "--out", str(tmp_path / "ov")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and 'pip install "transpose-live[openvino]"' in proc.stderr, proc.stderr
    assert not (tmp_path / "ov").exists()


def test_export_refuses_bad_format_and_overwriting_its_input(filled_checkpoint, tmp_path):
    ckpt = filled_checkpoint("tp_r_a3")
    with pytest.raises(UserError, match="--format"):
        export_model("tp_r_a3", str(ckpt), "tflite", out=tmp_path / "x")
    with pytest.raises(UserError, match="input weights"):
        export_model("tp_r_a3", str(ckpt), "onnx", out=ckpt)


def test_half_export_and_eval_with_an_exported_file(exported, tmp_path, capsys):
    """--half exports fp16 weights (close to fp32, not equal); `eval` takes the .onnx file directly."""
    paths, ckpt = exported
    half = tmp_path / "a3h.onnx"
    export_model("tp_r_a3", str(ckpt), "onnx", half=True, out=half)
    assert read_metadata(half).precision == "fp16"
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    ref = np.load(CONFORMANCE / "tp_r_a3" / "heatmaps.npy")
    err = _relative_error(PoseEstimator("tp_r_a3", weights=str(half), device="cpu")._forward(x), ref)
    assert 1e-6 < err < 1e-2
    from helpers import COCO_MINI

    coco = require_shared(COCO_MINI)
    metrics = tmp_path / "m.json"
    rc = main(["eval", "--images", str(coco / "val2017"), "--annotations",
               str(coco / "annotations" / "person_keypoints_val2017.json"), "--gt-boxes", "--model", "tp_r_a3",
               "--weights", str(paths["onnx"]), "--device", "cpu", "--max-images", "2", "--no-flip-test",
               "--no-progress", "--metrics-out", str(metrics)])
    assert rc == 0, capsys.readouterr().err
    assert "AP" in metrics.read_text()


def test_bf16_on_openvino_is_close_to_fp32_and_says_so(exported):
    """--precision auto on a CPU with native bf16 runs OpenVINO in bf16 (2x faster here), heatmaps close to fp32."""
    from transpose_live.backends.precision import cpu_precision

    cpu = cpu_precision()
    if not cpu.bf16_features:
        pytest.skip(f"this CPU has no native bf16 ({cpu.describe()})")
    paths, _ = exported
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    ref = np.load(CONFORMANCE / "tp_r_a3" / "heatmaps.npy")
    est = PoseEstimator("tp_r_a3", weights=str(paths["openvino"]), device="cpu", precision="auto")
    assert (est.backend, est.precision) == ("openvino", "bf16")
    assert 1e-4 < _relative_error(est._forward(x), ref) < 5e-2  # really bf16, and still the same heatmaps
    assert "precision=bf16" in repr(est)


def test_precision_resolution_and_one_line_errors(tmp_path):
    from transpose_live.backends.precision import cpu_precision, cpuinfo_flags, resolve_precision

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    assert {"avx512_bf16", "avx512_vnni"} <= cpuinfo_flags(info) and cpuinfo_flags(tmp_path / "none") == set()
    cpu = cpu_precision()
    assert resolve_precision("auto", "cuda", "torch") == "fp16"
    assert resolve_precision("auto", "cpu", "openvino") == cpu.auto
    assert resolve_precision("auto", "cpu", "onnxruntime") == resolve_precision(None, "cpu", "torch") == "fp32"
    assert resolve_precision("auto", "cpu", "openvino", exported="int8") == "int8"
    with pytest.raises(UserError, match="runs on OpenVINO; add --backend openvino"):
        resolve_precision("bf16", "cpu", "onnxruntime")
    assert resolve_precision("int8", "cpu", "openvino") == "int8"  # a checkpoint: the run makes its INT8 model
    for device, backend in (("cpu", "torch"), ("cpu", "onnxruntime"), ("cuda", "torch")):
        with pytest.raises(UserError, match="int8 runs on OpenVINO on the CPU"):
            resolve_precision("int8", device, backend)
    with pytest.raises(UserError, match="this export is INT8"):
        resolve_precision("fp32", "cpu", "openvino", exported="int8")
    with pytest.raises(UserError, match="unknown --precision"):
        resolve_precision("fp8", "cpu", "openvino")
    if cpu.bf16_features:
        assert resolve_precision("bf16", "cpu", "openvino") == "bf16"
    else:
        with pytest.raises(UserError, match="no native bf16"):
            resolve_precision("bf16", "cpu", "openvino")


def test_export_precision_errors_are_one_line(filled_checkpoint, tmp_path, capsys):
    ckpt = str(filled_checkpoint("tp_r_a3"))
    base = ["export", "tp_r_a3", "--weights", ckpt]
    one_line_error(capsys, main([*base, "--precision", "int8", "--calibration", str(tmp_path)]), "add --format openvino")
    one_line_error(capsys, main([*base, "--format", "openvino", "--precision", "int8"]), "--calibration VIDEO")
    one_line_error(capsys, main([*base, "--format", "openvino", "--calibration", str(tmp_path)]),
                   "--calibration is for --precision int8")
    one_line_error(capsys, main([*base, "--format", "openvino", "--verify"]), "--verify needs --images")
    one_line_error(capsys, main([*base, "--half", "--precision", "bf16", "--format", "openvino"]), "--half means")
    one_line_error(capsys, main([*base, "--format", "openvino", "--precision", "int8", "--calibration",
                                 str(tmp_path / "missing.mp4")]), "--calibration path not found")
    assert not list(tmp_path.iterdir())  # nothing written
