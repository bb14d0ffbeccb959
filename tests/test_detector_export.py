"""The person detector exported through ultralytics' own export (onnx / openvino), cached; real
export of the shared yolo11n-pose.pt into a temporary cache (once per module), real clip frames."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys

import cv2
import numpy as np
import pytest

from helpers import CLIPS, DETECTOR_WEIGHTS, SHARED, one_line_error, require_shared
from transpose_live.cli import main
from transpose_live.errors import UserError
from transpose_live.pipeline import PersonDetector, build_detector
from transpose_live.pipeline.detector_backend import DYNAMIC_EXPORT, choose_detector_backend, runtime_threads_of
from transpose_live.pipeline.detector_export import exported_detector, exported_format

IMGSZ = 320  # small: the export and the calls stay quick on 2 cores
INT8_FOLDER = SHARED / "weights" / "yolo11n_int8_openvino_model"


def frame_of(name: str, index: int = 0) -> np.ndarray:
    cap = cv2.VideoCapture(str(require_shared(CLIPS / name)))
    for _ in range(index + 1):
        ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda z: (z[2] - z[0]) * (z[3] - z[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """The .pt copied into its own folder, and its ONNX export in a temporary cache (exported once)."""
    require_shared(DETECTOR_WEIGHTS)
    weights_dir = tmp_path_factory.mktemp("weights")
    weights = weights_dir / DETECTOR_WEIGHTS.name
    shutil.copyfile(DETECTOR_WEIGHTS, weights)
    cache = tmp_path_factory.mktemp("cache")
    path = exported_detector(weights, "onnx", IMGSZ, cache=cache, dynamic=DYNAMIC_EXPORT)
    stat = path.stat()
    return dict(weights=weights, cache=cache, path=path, inode=stat.st_ino, mtime=stat.st_mtime_ns)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_onnx_export_boxes_match_torch_on_a_real_frame(export):
    frame = frame_of("exercise.avi", 10)  # three people
    torch_boxes, _ = PersonDetector(export["weights"], backend="torch", imgsz=IMGSZ)(frame)
    onnx_det = PersonDetector(export["path"], backend="onnxruntime", imgsz=IMGSZ, threads=1)
    onnx_boxes, scores = onnx_det(frame)
    assert exported_format(export["path"]) == "onnx" and onnx_det.device.type == "cpu"
    assert len(torch_boxes) == len(onnx_boxes) == 3
    for box in torch_boxes:
        assert max(iou(box, other) for other in onnx_boxes) > 0.95
    assert np.all(np.diff(scores) <= 0)  # highest score first, as the torch detector
    assert runtime_threads_of(onnx_det.model) == 1  # the thread budget reached the onnxruntime session


def test_second_call_reuses_the_cache(export):
    again = exported_detector(export["weights"], "onnx", IMGSZ, cache=export["cache"], dynamic=DYNAMIC_EXPORT)
    stat = again.stat()
    assert again == export["path"] and (stat.st_ino, stat.st_mtime_ns) == (export["inode"], export["mtime"])
    entries = sorted(p.name for p in export["cache"].iterdir())
    assert entries == [export["path"].parent.name]  # one finished entry, no temporary folder left
    assert entries[0].endswith(f"-onnx-{IMGSZ}" + ("-dynamic" if DYNAMIC_EXPORT else ""))
    umask = os.umask(0)
    os.umask(umask)
    assert export["path"].parent.stat().st_mode & 0o777 == 0o777 & ~umask  # a plain folder's mode, not 0700


def test_nothing_is_written_beside_the_input_weights(export):
    assert sorted(p.name for p in export["weights"].parent.iterdir()) == [DETECTOR_WEIGHTS.name]


def test_a_failed_export_leaves_no_cache_entry(tmp_path):
    bad = tmp_path / "not-yolo.pt"
    bad.write_bytes(b"these bytes are not a YOLO checkpoint")
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="exporting detector weights .* failed"):
        exported_detector(bad, "onnx", IMGSZ, cache=cache)
    assert list(cache.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "not-yolo.pt"]


def test_auto_follows_the_pose_backend_and_exported_weights_keep_their_runtime():
    pt = str(DETECTOR_WEIGHTS)
    assert choose_detector_backend("auto", pt, "torch") == "torch"
    fastest = "openvino" if importlib.util.find_spec("openvino") else "onnxruntime"
    assert choose_detector_backend("auto", pt, "onnxruntime") == fastest  # measured: OpenVINO when installed
    assert choose_detector_backend("auto", pt, "openvino") == "openvino"
    assert choose_detector_backend(None, pt, "onnxruntime", device="cuda") == "torch"
    assert choose_detector_backend("auto", str(INT8_FOLDER), "onnxruntime") == "openvino"
    assert choose_detector_backend("auto", "det.onnx", "torch") == "onnxruntime"
    with pytest.raises(UserError, match="run on openvino"):
        choose_detector_backend("onnxruntime", str(INT8_FOLDER), "onnxruntime")
    with pytest.raises(UserError, match="runs on the CPU"):
        choose_detector_backend("openvino", pt, "torch", device="cuda")
    with pytest.raises(UserError, match="unknown --detector-backend"):
        build_detector("yolo", pt, backend="tensorrt")


def test_openvino_int8_folder_as_detector_weights_in_a_video_run(squat24, filled_checkpoint, tmp_path, capsys):
    require_shared(INT8_FOLDER)
    js = tmp_path / "o.jsonl"
    rc = main(["video", str(squat24), "--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")),
               "--device", "cpu", "--backend", "onnxruntime", "--detector-weights", str(INT8_FOLDER),
               "--max-frames", "2", "--json", str(js), "--no-progress", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(records) == 2 and all(len(r["persons"]) == 1 for r in records)  # the one person squatting
    x1, y1, x2, y2 = records[0]["persons"][0]["box"]
    assert 450 < x1 < x2 < 650 and y2 - y1 > 400


def test_unusable_detector_backend_is_one_line_exit_2(squat24, filled_checkpoint, capsys):
    rc = main(["video", str(squat24), "--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")),
               "--device", "cpu", "--detector-weights", str(DETECTOR_WEIGHTS), "--detector-backend", "tensorrt",
               "--max-frames", "1", "--no-progress"])
    one_line_error(capsys, 2, rc, "unknown --detector-backend 'tensorrt'")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_openvino_export_boxes_match_torch(export):
    pytest.importorskip("openvino")
    path = exported_detector(export["weights"], "openvino", IMGSZ, cache=export["cache"], dynamic=DYNAMIC_EXPORT)
    assert path.is_dir() and path.name.endswith("_openvino_model") and exported_format(path) == "openvino"
    frame = frame_of("exercise.avi", 10)
    torch_boxes, _ = PersonDetector(export["weights"], backend="torch", imgsz=IMGSZ)(frame)
    ov_det = PersonDetector(path, backend="openvino", imgsz=IMGSZ, threads=1)
    ov_boxes, _ = ov_det(frame)
    assert len(ov_boxes) == len(torch_boxes) == 3
    for box in torch_boxes:
        assert max(iou(box, other) for other in ov_boxes) > 0.9
    assert runtime_threads_of(ov_det.model) == 1
    assert sorted(p.name for p in export["weights"].parent.iterdir()) == [DETECTOR_WEIGHTS.name]


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_run_with_pt_weights_exports_the_detector_for_an_exported_pose_backend(squat24, filled_checkpoint, tmp_path,
                                                                            detector_cache, capsys):
    js = tmp_path / "o.jsonl"
    rc = main(["video", str(squat24), "--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")),
               "--device", "cpu", "--backend", "onnxruntime", "--detector-weights", str(DETECTOR_WEIGHTS),
               "--detector-imgsz", str(IMGSZ), "--max-frames", "2", "--json", str(js), "--no-progress",
               "--threads", "1"])
    assert rc == 0, capsys.readouterr().err
    fmt = "openvino" if importlib.util.find_spec("openvino") else "onnx"  # auto: the fastest installed
    assert len(list((detector_cache / "detectors").glob(f"*-{fmt}-{IMGSZ}*/{DETECTOR_WEIGHTS.stem}*"))) == 1
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(records) == 2 and all(len(r["persons"]) == 1 for r in records)


def test_a_missing_export_package_is_one_line_with_the_pip_command(export, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxslim", None)  # as if it were not installed: `import onnxslim` fails
    with pytest.raises(UserError, match=r"needs onnxslim: pip install onnx onnxslim") as err:
        exported_detector(export["weights"], "onnx", IMGSZ + 32, cache=tmp_path / "cache")
    assert "\n" not in str(err.value) and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_our_runtime_finds_the_boxes_ultralytics_predict_finds(export, fmt):
    """The exported detector on our runtime (letterbox, runner, NMS) against ultralytics' own predict on the
    same export, at the same precision, on frames of three shared clips (1-3 people, three frame sizes)."""
    if fmt == "openvino":
        pytest.importorskip("openvino")
    from ultralytics import YOLO

    from transpose_live.backends.precision import cpu_precision
    from transpose_live.pipeline.yolo_runtime import ExportedYolo

    path = exported_detector(export["weights"], fmt, IMGSZ, cache=export["cache"], dynamic=DYNAMIC_EXPORT)
    precision = cpu_precision().auto if fmt == "openvino" else "fp32"  # what ultralytics' OpenVINO runs by default
    ours, theirs = ExportedYolo(path, threads=1, precision=precision), YOLO(str(path), task="pose")
    assert ours.facts.dynamic == DYNAMIC_EXPORT and ours.facts.kpt_shape == (17, 3)
    people = 0
    for clip, index in (("exercise.avi", 10), ("squat.mp4", 5), ("dance.mp4", 3), ("vtest.avi", 7)):
        frame = frame_of(clip, index)
        want = theirs.predict(frame, classes=[0], conf=0.25, iou=0.7, imgsz=IMGSZ, verbose=False)[0]
        got = ours.predict(frame, conf=0.25, iou=0.7, classes=[0], imgsz=IMGSZ)
        assert len(got.boxes) == len(want.boxes), clip
        for box in want.boxes.xyxy.numpy():
            assert max(iou(box, other) for other in got.boxes) > 0.98, clip
        np.testing.assert_allclose(np.sort(got.scores), np.sort(want.boxes.conf.numpy()), atol=0.02)
        assert np.all(np.diff(got.scores) <= 0)
        people += len(got.boxes)
    assert people >= 5


def test_a_transpose_run_cuts_the_detectors_keypoint_branch_and_keeps_its_boxes(export, monkeypatch):
    """A TransPose run uses only the detector's boxes: on OpenVINO the pose export's keypoint branch is cut
    off (`yolo_runtime.boxes_only`). The boxes and scores are the very same numbers as the whole network's,
    on real frames of four clips; `--model detector`, which needs the keypoints, keeps the whole network."""
    pytest.importorskip("openvino")
    from transpose_live.chain import build_chain
    from transpose_live.config import RunConfig
    from transpose_live.pipeline.yolo_runtime import ExportedYolo

    path = exported_detector(export["weights"], "openvino", IMGSZ, cache=export["cache"], dynamic=DYNAMIC_EXPORT)
    whole, boxes_only = ExportedYolo(path, threads=1), ExportedYolo(path, threads=1, keypoints=False)
    assert whole.keypoints and not boxes_only.keypoints
    assert boxes_only.runner.compiled.output(0).get_partial_shape()[1].get_length() == 5  # 4 box + 1 class row
    people = 0
    for clip, index in (("exercise.avi", 10), ("squat.mp4", 5), ("dance.mp4", 3), ("vtest.avi", 7)):
        frame = frame_of(clip, index)
        want = whole.predict(frame, classes=[0], imgsz=IMGSZ)
        got = boxes_only.predict(frame, classes=[0], imgsz=IMGSZ)
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.scores, want.scores)
        assert got.keypoints is None and want.keypoints.shape == (len(want.boxes), 17, 3)
        people += len(got.boxes)
    assert people >= 5

    def detector_of(model):
        cfg = RunConfig.for_command("video").replace(model=model, weights="random", detector_weights=str(export["weights"]),
                                                     detector_imgsz=IMGSZ, device="cpu", threads=1)
        return build_chain(cfg).detector

    monkeypatch.setenv("TRANSPOSE_LIVE_CACHE", str(export["cache"]))
    assert detector_of("tp_r_a3").yolo.keypoints is False
    assert detector_of("detector").yolo.keypoints is True
