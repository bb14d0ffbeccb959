"""`--model detector`: the detector's own keypoints (YOLO11n-pose from ../shared) through the whole chain,
checked against ultralytics' own predict of the same decoded frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import CLIPS, DETECTOR_WEIGHTS, cli, one_line_error, require_shared, write_clip
from transpose_live.config import RunConfig
from transpose_live.tracking.association import box_iou

FRAMES = 8
SHARED_WEIGHTS = DETECTOR_WEIGHTS.parent


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """8 frames of exercise.avi (3 people, 384x288)."""
    require_shared(CLIPS / "exercise.avi")
    require_shared(DETECTOR_WEIGHTS)
    path = tmp_path_factory.mktemp("det-poses") / "exercise8.mp4"
    write_clip(path, CLIPS / "exercise.avi", FRAMES)
    return path


def _decoded_frames(path):
    from transpose_live.pipeline import open_video

    source = open_video(path)
    try:
        return [f.image.copy() for f in source.start()]
    finally:
        source.close()


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_jsonl_csv_and_analyze_carry_ultralytics_own_keypoints(clip, yolo, tmp_path):
    out = tmp_path / "out"
    r = cli("video", clip, "--model", "detector", "--detector-weights", DETECTOR_WEIGHTS, "--device", "cpu",
            "--detector-backend", "torch", "--smooth", "none", "--no-progress",
            "--json", out.with_suffix(".jsonl"), "--csv", out.with_suffix(".csv"))
    assert r.returncode == 0, r.stderr
    assert "detector:yolo11n-pose" in r.stdout + r.stderr
    records = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert len(records) == FRAMES
    cfg = RunConfig.for_command("video")
    compared = 0
    for record, frame in zip(records, _decoded_frames(clip)):
        ref = yolo.predict(frame, conf=cfg.det_conf, imgsz=cfg.detector_imgsz, verbose=False, device="cpu")[0]
        ref_boxes, ref_kpts = ref.boxes.xyxy.numpy(), ref.keypoints.data.numpy()
        persons = record["persons"]
        assert len(persons) == len(ref_boxes) >= 2  # every person ultralytics finds, no more
        ours = np.array([p["box"] for p in persons])
        match = box_iou(ours, ref_boxes).argmax(1)
        for person, j in zip(persons, match):
            assert np.abs(np.array(person["box"]) - ref_boxes[j]).max() < 0.02
            np.testing.assert_allclose(np.array(person["keypoints"]), ref_kpts[j], atol=0.02)
            compared += 1
    assert compared >= 2 * FRAMES
    csv_rows = out.with_suffix(".csv").read_text().splitlines()
    assert len(csv_rows) == 1 + sum(len(r["persons"]) for r in records)
    angles = tmp_path / "angles.csv"
    a = cli("analyze", out.with_suffix(".jsonl"), "--csv", angles)
    assert a.returncode == 0, a.stderr
    assert len(angles.read_text().splitlines()) > FRAMES  # one row per tracked person and frame


@pytest.mark.parametrize("det_every", [1, 3])
def test_one_predict_per_frame_and_keypoint_boxes(clip, det_every):
    """The detector's call is the only model call of a detected frame; a frame boxed from the previous
    keypoints (--det-every) gets one predict of its own, and the tracker keeps the people."""
    from transpose_live.pipeline import PipelineOptions, open_video, run_pipeline
    from transpose_live.chain import build_chain

    chain = build_chain(RunConfig.for_command("video", model="detector", detector_weights=str(DETECTOR_WEIGHTS),
                                              device="cpu", detector_backend="torch", det_every=det_every))
    assert chain.estimator.precision == "fp32" and chain.estimator.backend == "torch"
    assert "DetectorPoses(yolo11n-pose.pt" in repr(chain.estimator)
    before = chain.detector.predicts
    result = run_pipeline(open_video(clip), chain.estimator, chain.detector, tracker=chain.tracker(),
                          options=chain.pipeline_options(progress=False))
    assert result.frames == FRAMES
    assert chain.detector.predicts - before == FRAMES
    assert result.persons >= 2 * FRAMES
    if det_every > 1:
        assert result.detector_runs < FRAMES


def test_given_boxes_take_the_overlapping_detection_and_nothing_else(clip):
    from transpose_live.chain import build_estimator

    est = build_estimator(RunConfig.for_command("video", model="detector", detector_weights=str(DETECTOR_WEIGHTS),
                                                device="cpu", detector_backend="torch"))
    frame = _decoded_frames(clip)[0]
    boxes, scores = est.detector(frame)
    poses = est.estimate(frame, boxes[::-1], scores[::-1])  # same frame: the detector's own keypoints, any order
    np.testing.assert_array_equal(poses.boxes, boxes[::-1])
    far = np.array([[0, 0, 5, 5]], np.float32)  # nobody there: no pose
    assert len(est.estimate(frame.copy(), far)) == 0
    assert len(est.estimate_batch([frame.copy()], [boxes[:1]])[0]) == 1  # an unseen frame: a predict of its own
    with pytest.raises(Exception, match="attention"):
        est.estimate(frame, boxes, return_attention=True)


def test_wrong_uses_are_one_line_errors(clip, capsys):
    from transpose_live.cli import main

    require_shared(SHARED_WEIGHTS / "yolo11n_int8_openvino_model")
    base = ["video", str(clip), "--model", "detector", "--device", "cpu", "--no-progress", "--max-frames", "1"]
    one_line_error(capsys, 2, main([*base, "--detector-weights", str(SHARED_WEIGHTS / "yolo11n_int8_openvino_model")]),
                   "needs pose detector weights")
    one_line_error(capsys, 2, main([*base, "--detector", "none"]), "drop --detector none")
    one_line_error(capsys, 2, main(["bench", "--models", "detector", "--quick", "--batch", "1"]), "not a pose network")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_webcam_cameras_take_the_detector_keypoints(clip, tmp_path):
    """The live path (cameras, `estimate_batch`): the clip played as two cameras, keypoints in each file."""
    r = cli("webcam", "--camera", clip, "--camera", clip, "--model", "detector", "--detector-weights",
            DETECTOR_WEIGHTS, "--detector-backend", "torch", "--device", "cpu", "--no-show", "--max-frames", "3",
            "--json", tmp_path / "cam-{camera}.jsonl")
    assert r.returncode == 0, r.stderr
    for camera in (0, 1):
        records = [json.loads(line) for line in (tmp_path / f"cam-{camera}.jsonl").read_text().splitlines()]
        persons = [p for rec in records for p in rec["persons"]]
        assert records and persons and all(len(p["keypoints"]) == 17 for p in persons)
        assert max(k[2] for p in persons for k in p["keypoints"]) > 0.5  # real keypoint scores, not a stand-in
