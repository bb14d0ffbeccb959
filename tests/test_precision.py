"""Reduced precision on the CPU, on real peaked heatmaps: a tp_r_a3 trained briefly here (as the learning
test does) is scored by the project's COCO evaluation in fp32, bf16 (OpenVINO) and INT8 (an NNCF export
calibrated on coco-mini images through the project's detector) on the same people."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import CLIPS, COCO_MINI, DETECTOR_WEIGHTS, coco_subset, require_shared, single_person_images

pytest.importorskip("openvino")

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"
STEPS = 120  # 4 people, batch 4 (the learning test: AP ~0.94)
BASE = [sys.executable, "-m", "transpose_live"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint, annotations of its 4 people): tp_r_a3 at 64x48 memorising 4 coco-mini people."""
    require_shared(VAL_ANN)
    tmp = tmp_path_factory.mktemp("precision")
    ann = coco_subset(VAL_ANN, tmp / "four.json", single_person_images(VAL_ANN, count=4))
    run = tmp / "run"
    train = subprocess.run(
        [*BASE, "train", "--model", "tp_r_a3", "--train-images", str(VAL_IMG), "--train-annotations", str(ann),
         "--val-images", str(VAL_IMG), "--val-annotations", str(ann), "--init", "random", "--input-size", "64x48",
         "--batch-size", "4", "--repeat", str(STEPS // 2), "--epochs", "2", "--lr", "3e-4", "--no-augment",
         "--device", "cpu", "--workers", "0", "--no-progress", "--out", str(run)],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert train.returncode == 0, train.stderr[-2000:]
    return run / "best.pth", ann


def linked_images(folder, count: int = 0, names=()):
    """A folder of links to coco-mini val images (the user's frames, without copying): `names`, or the first `count`."""
    folder.mkdir()
    for name in names or sorted(p.name for p in VAL_IMG.iterdir())[:count]:
        (folder / name).symlink_to(VAL_IMG / name)
    return folder


def coco_ap(weights, ann, backend: str, precision: str) -> tuple[float, str]:
    """COCO AP of `weights` on the people of `ann` (ground-truth boxes, no flip test) and the precision that ran."""
    from transpose_live.engine import PoseEstimator
    from transpose_live.evaluation.boxes_source import gt_person_boxes, load_coco
    from transpose_live.evaluation.evaluate import evaluate_dataset

    est = PoseEstimator(None, str(weights), device="cpu", backend=backend, precision=precision, flip_test=False)
    coco = load_coco(ann)
    outcome = evaluate_dataset(est, coco, VAL_IMG, gt_person_boxes(coco), progress=False)
    assert outcome.people == 4
    return outcome.metrics["AP"], est.precision


@pytest.mark.slow
def test_bf16_is_within_0_01_ap_of_fp32(trained):
    from transpose_live.backends.precision import cpu_precision

    cpu = cpu_precision()
    if not cpu.bf16_features:
        pytest.skip(f"this CPU has no native bf16 ({cpu.describe()}): bf16 runs only where the CPU computes it")
    weights, ann = trained
    fp32, ran32 = coco_ap(weights, ann, "openvino", "fp32")
    torch_ap, _ = coco_ap(weights, ann, "torch", "fp32")
    bf16, ran16 = coco_ap(weights, ann, "openvino", "auto")  # auto picks bf16 on this CPU
    print(f"\nCOCO AP on 4 trained people: torch fp32 {torch_ap:.4f}, OpenVINO fp32 {fp32:.4f}, bf16 {bf16:.4f} "
          f"({cpu.describe()})")
    assert (ran32, ran16) == ("fp32", "bf16")
    assert fp32 >= 0.7, "the briefly trained model must give peaked heatmaps for this test to mean anything"
    assert abs(fp32 - torch_ap) < 1e-3
    assert abs(bf16 - fp32) <= 0.01


@pytest.mark.slow
def test_int8_export_with_calibration_and_verify(trained, tmp_path):
    pytest.importorskip("nncf")
    require_shared(DETECTOR_WEIGHTS)
    weights, ann = trained
    calibration = linked_images(tmp_path / "calib", 24)
    out = tmp_path / "a3_int8"
    proc = subprocess.run(
        [*BASE, "export", "--weights", str(weights), "--format", "openvino", "--precision", "int8",
         "--calibration", str(calibration), "--detector-weights", str(DETECTOR_WEIGHTS), "--out", str(out),
         "--verify", "--images", str(VAL_IMG), "--annotations", str(ann)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "No CUDA runtime" not in proc.stderr  # torch's warning when NNCF loads (issue #28)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["precision"] == "int8" and meta["input_size"] == [64, 48]
    assert meta["calibration"]["crops"] >= 8 and meta["calibration"]["source"] == str(calibration)
    verify = meta["verify"]
    assert verify["precision"] == "int8" and verify["people"] == 4 and verify["boxes"] == "ground truth"
    assert "AP" in proc.stdout and "keypoint drift" in proc.stdout  # the table
    fp32_ap, int8_ap = verify["fp32"]["AP"], verify["export"]["AP"]
    print(f"\nINT8 (NNCF, calibrated on {meta['calibration']['crops']} coco-mini crops): AP {fp32_ap:.4f} -> "
          f"{int8_ap:.4f} ({int8_ap - fp32_ap:+.4f}); drift median {verify['drift_median_px']} px, p95 "
          f"{verify['drift_p95_px']} px, {100 * verify['moved_over_1_heatmap_px']:.1f}% over one heatmap px")
    assert fp32_ap >= 0.7
    assert 0 <= verify["drift_median_px"] <= verify["drift_p95_px"] < 1000
    ap, ran = coco_ap(out, ann, "openvino", "auto")  # the export runs as INT8 and scores what verify said
    assert ran == "int8" and abs(ap - int8_ap) <= 1e-4  # verify rounds to 4 places


@pytest.mark.slow
def test_a_run_makes_a_checkpoints_int8_model_once_and_keeps_it(trained, tmp_path):
    """`video --precision int8` with a checkpoint: the run makes its INT8 model (calibrated on the input),
    keeps it in the cache and later runs reuse it; --int8-calib makes one of its own, which scores
    like fp32 on the trained people."""
    pytest.importorskip("nncf")
    require_shared(DETECTOR_WEIGHTS)
    from transpose_live.backends.metadata import file_sha256

    weights, ann = trained
    home = tmp_path / "home"
    clip = CLIPS / "squat.mp4"

    def run(name: str, *extra: str) -> str:
        proc = subprocess.run(
            [*BASE, "video", str(clip), "--weights", str(weights), "--device", "cpu", "--precision", "int8",
             "--detector-weights", str(DETECTOR_WEIGHTS), "--max-frames", "5", "--no-progress",
             "--json", str(tmp_path / name), *extra],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "TRANSPOSE_LIVE_HOME": str(home)})
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "tp_r_a3 int8 on openvino" in proc.stderr, proc.stderr
        return proc.stderr

    assert "making the INT8 model" in run("first.jsonl")
    (made,) = list((home / "int8").iterdir())
    meta = json.loads((made / "metadata.json").read_text())
    assert meta["precision"] == "int8" and meta["weights_sha256"] == file_sha256(weights)
    assert meta["calibration"]["source"] == str(clip) and meta["calibration"]["crops"] >= 8
    again = run("again.jsonl")
    assert "making" not in again and "Statistics collection" not in again and str(made) in again
    assert (tmp_path / "first.jsonl").read_bytes() == (tmp_path / "again.jsonl").read_bytes()
    first = [json.loads(line) for line in (tmp_path / "first.jsonl").read_text().splitlines()]
    assert len(first) == 5 and all(len(f["persons"]) == 1 for f in first)

    calibration = linked_images(tmp_path / "calib", 24)
    assert "making the INT8 model" in run("own.jsonl", "--int8-calib", str(calibration))
    (own,) = [p for p in (home / "int8").iterdir() if p != made]
    assert json.loads((own / "metadata.json").read_text())["calibration"]["source"] == str(calibration)
    assert "making" not in run("own-again.jsonl", "--int8-calib", str(calibration))
    doctor = subprocess.run([*BASE, "doctor", "--json", "-"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TRANSPOSE_LIVE_HOME": str(home)})
    listed = {c["name"]: c["detail"] for c in json.loads(doctor.stdout)["checks"]}["INT8 models"]
    assert listed.startswith(f"2 in {home / 'int8'}") and made.name in listed and own.name in listed
    fp32, _ = coco_ap(weights, ann, "openvino", "fp32")
    int8, ran = coco_ap(own, ann, "openvino", "auto")
    print(f"\nINT8 made by the run (calibrated on 24 coco-mini images): AP {fp32:.4f} -> {int8:.4f}")
    assert ran == "int8" and fp32 >= 0.7 and int8 >= fp32 - 0.03


@pytest.mark.slow
def test_batch_makes_the_int8_model_once_for_its_workers(trained, squat24, tmp_path):
    """`batch --precision int8` of a checkpoint: the model is made once, before two workers run it."""
    pytest.importorskip("nncf")
    require_shared(DETECTOR_WEIGHTS)
    weights, _ = trained
    inputs = tmp_path / "clips"
    inputs.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (inputs / name).symlink_to(squat24)
    home = tmp_path / "home"
    proc = subprocess.run(
        [*BASE, "batch", str(inputs), "--out-dir", str(tmp_path / "out"), "--workers", "2", "--threads", "1",
         "--weights", str(weights), "--device", "cpu", "--precision", "int8", "--detector-weights",
         str(DETECTOR_WEIGHTS), "--no-progress"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "TRANSPOSE_LIVE_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("making the INT8 model") == 1 and proc.stderr.count("Statistics collection") <= 1
    (made,) = list((home / "int8").iterdir())
    assert json.loads((made / "metadata.json").read_text())["calibration"]["crops"] >= 8
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["done"] == 2 and [row["status"] for row in summary["items"]] == ["done", "done"], summary


@pytest.mark.slow
def test_drift_without_annotations_uses_the_detector(trained, tmp_path):
    """export --verify with only --images: people from the detector, keypoint drift of bf16 against fp32."""
    from transpose_live.backends.precision import cpu_precision

    require_shared(DETECTOR_WEIGHTS)
    weights, ann = trained
    images = linked_images(tmp_path / "imgs", names=[i["file_name"] for i in json.loads(ann.read_text())["images"]])
    out = tmp_path / "a3_ov"
    proc = subprocess.run(
        [*BASE, "export", "--weights", str(weights), "--format", "openvino", "--out", str(out), "--verify",
         "--images", str(images), "--detector-weights", str(DETECTOR_WEIGHTS)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verify = json.loads((out / "metadata.json").read_text())["verify"]
    assert verify["boxes"] == "detector" and verify["people"] >= 4 and "fp32" not in verify
    assert verify["precision"] == cpu_precision().auto
    print(f"\n{verify['precision']} vs fp32 on the 4 trained people's images (detector boxes): drift median "
          f"{verify['drift_median_px']} px, p95 {verify['drift_p95_px']} px")
    assert verify["drift_median_px"] < 3  # bf16 (or fp32 on other CPUs) hardly moves a trained model's keypoints


def test_default_run_says_which_precision_and_runtime_ran(filled_checkpoint, squat24, tmp_path, capsys):
    """The default video run on the CPU: OpenVINO, bf16 where the CPU has it, said in the summary line;
    one-line errors where a runtime or the CPU lacks the precision asked for."""
    from transpose_live.backends.precision import cpu_precision
    from transpose_live.cli import main

    require_shared(DETECTOR_WEIGHTS)
    base = ["video", str(squat24), "--weights", str(filled_checkpoint("tp_r_a3")), "--model", "tp_r_a3",
            "--device", "cpu", "--detector-weights", str(DETECTOR_WEIGHTS), "--max-frames", "2", "--no-progress"]
    assert main([*base, "--json", str(tmp_path / "a.jsonl")]) == 0
    err = capsys.readouterr().err
    assert f"tp_r_a3 {cpu_precision().auto} on openvino" in err, err
    for extra, needle in ((["--precision", "bf16", "--backend", "onnxruntime"], "runs on OpenVINO"),
                          (["--precision", "int8", "--backend", "torch"], "int8 runs on OpenVINO on the CPU"),
                          (["--precision", "int8", "--int8-calib", str(tmp_path / "none.mp4")],
                           "--int8-calib path not found"),
                          (["--precision", "int8", "--weights", "random"], "int8 quantises trained weights"),
                          (["--no-half", "--precision", "bf16"], "--no-half means --precision fp32"),
                          (["--precision", "fp64"], "unknown --precision")):
        assert main([*base, *extra, "--json", str(tmp_path / "b.jsonl")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "b.jsonl").exists()
