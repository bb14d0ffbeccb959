"""`transpose-live video / image / webcam` end to end: real detector (yolo11n-pose), real people
(exercise.avi, COCO-MINI), TransPose-R-A3 with the conformance weights as a checkpoint file;
every robustness case prints one line and exits non-zero without leaving corrupt output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from helpers import CLIPS, COCO_MINI, DETECTOR_WEIGHTS, count_frames, require_shared, sort_boxes, write_clip, yolo_boxes
from transpose_live.cli import main

CLIP_FRAMES = 5


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    require_shared(CLIPS / "exercise.avi")
    path = tmp_path_factory.mktemp("clip") / "exercise5.mp4"
    write_clip(path, CLIPS / "exercise.avi", CLIP_FRAMES)
    return path


@pytest.fixture(scope="module")
def common(filled_checkpoint):
    """Options: tp_r_a3 with fill.py weights, CPU, the shared YOLO11n-pose as person detector."""
    require_shared(DETECTOR_WEIGHTS)
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector-weights", str(DETECTOR_WEIGHTS), "--detector-imgsz", "640", "--no-progress"]


def one_line_error(capsys, code, rc, needle):
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err


def test_video_writes_mp4_and_jsonl(clip, common, tmp_path, capsys, yolo):
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    rc = main(["video", str(clip), "--out", str(out), "--json", str(js), "--smooth", "none", *common])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{CLIP_FRAMES} frames" in err and "stage fps" in err and "pose" in err
    assert count_frames(out) == (CLIP_FRAMES, 384, 288)
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(CLIP_FRAMES))
    cap = cv2.VideoCapture(str(clip))
    for rec in records:
        img = cap.read()[1]
        got = sort_boxes([p["box"] for p in rec["persons"]])
        np.testing.assert_allclose(got, yolo_boxes(yolo, img), atol=0.5)  # the detector's own people
        assert all(len(p["keypoints"]) == 17 and "track_id" in p for p in rec["persons"])


def test_video_max_frames_det_every_and_attention(clip, common, tmp_path, capsys):
    js = tmp_path / "o.jsonl"
    rc = main(["video", str(clip), "--json", str(js), "--max-frames", "3", "--det-every", "2",
               "--attention", "left_wrist", "--max-persons", "2", *common])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(records) == 3 and all(len(r["persons"]) <= 2 for r in records)


def test_image_folder_coco_json_gray_and_rgba(common, tmp_path, capsys, yolo):
    src = tmp_path / "in"
    src.mkdir()
    paths = sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[:2]
    img0 = cv2.imread(str(paths[0]))
    shutil.copy(paths[0], src / paths[0].name)
    cv2.imwrite(str(src / "gray.png"), cv2.cvtColor(img0, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(src / "rgba.png"), cv2.cvtColor(cv2.imread(str(paths[1])), cv2.COLOR_BGR2BGRA))
    out, coco = tmp_path / "out", tmp_path / "res.json"
    rc = main(["image", str(src), "--out", str(out), "--coco", str(coco), "--json", *common])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in lines] == sorted([paths[0].name, "gray.png", "rgba.png"])
    by_name = {r["image"]: r for r in lines}
    expected = yolo_boxes(yolo, img0)
    assert len(expected) > 0
    np.testing.assert_allclose(sort_boxes([p["box"] for p in by_name[paths[0].name]["persons"]]), expected, atol=0.5)
    for name in ("gray.png", "rgba.png"):
        rendered = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert rendered.ndim == 3 and rendered.shape[2] == 3
    entries = json.loads(coco.read_text())
    assert int(paths[0].stem) in {e["image_id"] for e in entries}
    assert all(e["category_id"] == 1 and len(e["keypoints"]) == 51 for e in entries)
    assert len(entries) == sum(len(r["persons"]) for r in lines)


def test_image_without_path_uses_ultralytics_demo(common, capsys):
    rc = main(["image", "--json", *common])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in lines] == ["bus.jpg", "zidane.jpg"]
    assert len(lines[0]["persons"]) >= 3 and len(lines[1]["persons"]) >= 2


def test_webcam_with_a_file_is_live_and_headless(common, tmp_path, capsys):
    path = tmp_path / "cam.mp4"
    write_clip(path, require_shared(CLIPS / "exercise.avi"), 12, fps=30)
    js, out = tmp_path / "w.jsonl", tmp_path / "w.mp4"
    rc = main(["webcam", "--camera", str(path), "--json", str(js), "--out", str(out), *common])
    err = capsys.readouterr().err
    assert rc == 0, err
    frames = [json.loads(line)["frame"] for line in js.read_text().splitlines()]
    assert frames == sorted(frames) and 1 <= len(frames) <= 12
    assert count_frames(out)[0] == len(frames)


# --- robustness: one line, non-zero exit, no output left behind -------------------------------

@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt"])
def test_bad_video_is_one_line(common, tmp_path, capsys, kind):
    path = tmp_path / "v.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(os.urandom(5000))
    js = tmp_path / "o.jsonl"
    rc = main(["video", str(path), "--json", str(js), *common])
    one_line_error(capsys, 2, rc, str(path))
    assert not js.exists()


def test_camera_that_cannot_be_opened(common, capsys):
    one_line_error(capsys, 2, main(["webcam", "--camera", "9", *common]), "cannot open camera")


def test_unwritable_out_fails_before_processing(clip, common, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    js = tmp_path / "o.jsonl"
    t0 = time.perf_counter()
    rc = main(["video", str(clip), "--json", str(js), "--out", str(blocker / "o.mp4"), *common])
    one_line_error(capsys, 2, rc, "--out video")
    assert not js.exists() and time.perf_counter() - t0 < 5


def test_unknown_model_and_options(clip, common, capsys):
    args = [a if a != "tp_r_a3" else "tp_nope" for a in common]
    one_line_error(capsys, 2, main(["video", str(clip), *args]), "unknown model 'tp_nope'")
    one_line_error(capsys, 2, main(["video", str(clip), *common, "--attention", "tail"]), "unknown keypoint")
    one_line_error(capsys, 2, main(["video", str(clip), *common, "--smooth", "magic"]), "--smooth")
    one_line_error(capsys, 2, main(["video", str(clip), *common, "--detector-weights", "/nope.pt"]),
                   "--detector-weights")


@pytest.mark.slow
def test_sigterm_mid_video_leaves_valid_outputs(common, tmp_path):
    path = tmp_path / "long.mp4"
    write_clip(path, require_shared(CLIPS / "exercise.avi"), 150)
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "video", str(path), "--out", str(out),
                             "--json", str(js), *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if js.exists() and len(js.read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted by SIGTERM")
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert 2 <= len(records) < 150 and [r["frame"] for r in records] == list(range(len(records)))
    frames, w, h = count_frames(out)
    assert frames == len(records) and (w, h) == (384, 288)
