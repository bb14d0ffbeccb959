"""The live pipeline as a library: real detector (yolo11n-pose), real clips and COCO-MINI images,
TransPose-R-A3 with the conformance weights; sources, keypoint boxes, renderer, writers."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from helpers import (
    CLIPS, COCO_MINI, DETECTOR_WEIGHTS, count_frames, filled_model, require_shared, sort_boxes, write_clip,
    yolo_boxes,
)
from transpose_live.engine.boxes import crop_regions
from transpose_live.errors import UserError
from transpose_live.poses import Poses

CLIP_FRAMES = 6


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """6 frames of exercise.avi (3 people, 384x288, 10 fps)."""
    require_shared(CLIPS / "exercise.avi")
    path = tmp_path_factory.mktemp("clip") / "exercise6.mp4"
    write_clip(path, CLIPS / "exercise.avi", CLIP_FRAMES)
    return path


@pytest.fixture(scope="module")
def estimator():
    from transpose_live.engine import PoseEstimator

    return PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu", flip_test=False)


@pytest.fixture(scope="module")
def detector():
    require_shared(DETECTOR_WEIGHTS)
    from transpose_live.pipeline import PersonDetector

    return PersonDetector(DETECTOR_WEIGHTS, device="cpu")


# --- detector -------------------------------------------------------------------------------

def test_detector_matches_yolo_on_coco_mini(detector, yolo):
    images = sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[:4]
    found = 0
    for path in images:
        img = cv2.imread(str(path))
        boxes, scores = detector(img)
        assert boxes.shape == (len(scores), 4) and np.all(np.diff(scores) <= 0)
        np.testing.assert_allclose(sort_boxes(boxes), yolo_boxes(yolo, img), atol=0.5)
        found += len(boxes)
    assert found > 0


def test_detector_errors_are_one_line(monkeypatch, tmp_path):
    from transpose_live.pipeline.detector import PersonDetector, WholeFrameDetector, resolve_detector_weights

    with pytest.raises(UserError, match="--detector-weights"):
        PersonDetector(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(UserError, match="--detector-weights"):
        PersonDetector(tmp_path / "bad.pt")
    monkeypatch.setenv("TRANSPOSE_LIVE_DETECTOR", "/x/y.pt")
    assert resolve_detector_weights(None) == "/x/y.pt"
    assert resolve_detector_weights("a.pt") == "a.pt"
    boxes, scores = WholeFrameDetector()(np.zeros((40, 30, 3), np.uint8))
    assert boxes.tolist() == [[0, 0, 30, 40]] and scores.tolist() == [1.0]


# --- sources --------------------------------------------------------------------------------

def test_video_source_every_frame_in_order(clip):
    from transpose_live.pipeline import open_video

    with open_video(clip) as src:
        assert src.size == (384, 288) and src.fps == pytest.approx(10.0) and not src.is_live
        frames = []
        for f in src:
            time.sleep(0.01)  # a slow consumer still gets every frame
            frames.append(f)
    assert [f.index for f in frames] == list(range(CLIP_FRAMES))
    assert frames[2].timestamp == pytest.approx(0.2)


def test_live_file_source_drops_stale_frames(tmp_path):
    from transpose_live.pipeline import open_camera
    from transpose_live.pipeline.sources import LiveFileSource

    path = tmp_path / "fast.mp4"
    write_clip(path, require_shared(CLIPS / "exercise.avi"), 20, fps=50)
    src = open_camera(str(path))
    assert isinstance(src, LiveFileSource) and src.is_live
    got = []
    with src:
        for f in src:
            got.append(f)
            time.sleep(0.1)  # 10 fps consumer of a 50 fps "camera"
    indices = [f.index for f in got]
    assert indices == sorted(indices) and len(got) < 20 and src.dropped > 0
    # paced at the file's frame rate: frame i is never read before i / fps seconds
    assert all(f.timestamp >= f.index / 50 - 0.005 for f in got)


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt", "folder"])
def test_bad_video_files(tmp_path, kind):
    from transpose_live.pipeline import open_video

    path = tmp_path / "v.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes())
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(UserError) as exc:
        open_video(path)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


@pytest.mark.parametrize("spec", ["9", "/dev/video9", "rtsp://127.0.0.1:1/none"])
def test_camera_that_cannot_be_opened(spec):
    from transpose_live.pipeline import open_camera

    with pytest.raises(UserError, match="cannot open camera"):
        open_camera(spec)


def test_to_bgr_gray_and_four_channel():
    from transpose_live.pipeline import to_bgr

    gray = np.full((5, 4), 7, np.uint8)
    assert to_bgr(gray).shape == (5, 4, 3) and to_bgr(gray)[0, 0].tolist() == [7, 7, 7]
    bgra = np.zeros((5, 4, 4), np.uint8)
    bgra[..., 2] = 200
    assert to_bgr(bgra).shape == (5, 4, 3) and to_bgr(bgra)[0, 0].tolist() == [0, 0, 200]
    assert to_bgr(np.full((2, 2), 65535, np.uint16)).max() == 255
    with pytest.raises(UserError):
        to_bgr(np.zeros((2, 2, 5), np.uint8))


def test_image_source_folder_skips_unreadable(tmp_path):
    from transpose_live.pipeline import ImageSource

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 6), np.uint8))
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("x")
    src = ImageSource(tmp_path)
    frames = list(src)
    assert [f.name for f in frames] == ["a.png"] and frames[0].image.shape == (8, 6, 3)
    assert src.skipped == [str(tmp_path / "b.jpg")]
    with pytest.raises(UserError, match="cannot read image"):
        ImageSource(tmp_path / "b.jpg")
    with pytest.raises(UserError, match="not found"):
        ImageSource(tmp_path / "nope.jpg")


# --- keypoint boxes -------------------------------------------------------------------------

def _person(x0, y0, score=0.9, n=17):
    kpts = np.zeros((17, 3), np.float32)
    kpts[:, 0] = x0 + np.linspace(0, 40, 17)
    kpts[:, 1] = y0 + np.linspace(0, 100, 17)
    kpts[:n, 2] = score
    return kpts


def test_boxes_from_keypoints_expand_clip_and_drop():
    from transpose_live.pipeline.keypoint_boxes import boxes_from_keypoints

    poses = Poses(np.stack([_person(100, 50), _person(-10, 0), _person(10, 10, n=2)]),
                  np.zeros((3, 4)), np.array([0.9, 0.8, 0.7]))
    boxes, scores, keep = boxes_from_keypoints(poses, (300, 200))
    assert keep.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.8])
    x1, y1, x2, y2 = boxes[0]
    assert x1 < 100 and x2 > 140 and y1 < 50 and y2 > 150  # grown beyond the keypoints
    assert (x2 - x1) == pytest.approx(50) and (y2 - y1) == pytest.approx(137.5)
    assert boxes[1, 0] == 0 and boxes[1, 1] == 0  # clipped to the frame


def test_box_scheduler_runs_detector_every_n():
    from transpose_live.pipeline.keypoint_boxes import BoxScheduler

    calls = []

    def detect(img):
        calls.append(1)
        return np.array([[90, 40, 150, 160]], np.float32), np.array([0.9], np.float32)

    sched = BoxScheduler(det_every=3)
    img = np.zeros((200, 300, 3), np.uint8)
    ran = []
    for _ in range(7):
        _, _, r = sched.boxes(img, detect)
        ran.append(r)
        sched.observe(Poses(_person(100, 50)[None], [[90, 40, 150, 160]], [0.9]))
    assert ran == [True, False, False, True, False, False, True] and len(calls) == 3
    sched.observe(Poses.empty())  # nobody carried over -> detect again
    assert sched.boxes(img, detect)[2] is True


# --- renderer -------------------------------------------------------------------------------

def test_render_skeleton_colours_and_widths():
    from transpose_live.pipeline import render

    assert render.limb_colour(5, 7) != render.limb_colour(6, 8)  # left vs right arm
    assert render.limb_colour(5, 6) == render.CENTRE
    assert render.line_width(np.zeros((1080, 1920, 3))) > render.line_width(np.zeros((240, 320, 3)))
    img = np.zeros((200, 300, 3), np.uint8)
    kpts = _person(100, 50)
    kpts[3, 2] = 0.1  # below --kpt-thr: not drawn
    poses = Poses(kpts[None], [[90, 40, 150, 160]], [0.9], track_ids=[4],
                  attention=np.random.default_rng(0).random((1, 17, 32, 24)).astype(np.float32))
    out = render.render_frame(img, poses, kpt_thr=0.3, hud=["12.0 FPS  30 ms"], attention_keypoint=9)
    assert img.sum() == 0 and out.shape == img.shape and out.sum() > 0
    left = np.all(out == render.LEFT, axis=-1).sum()
    right = np.all(out == render.RIGHT, axis=-1).sum()
    assert left > 0 and right > 0
    assert tuple(crop_regions(np.array([0, 0, 30, 40]))[0]) == pytest.approx((-3.75, -5, 33.75, 45))


# --- writers --------------------------------------------------------------------------------

def test_unwritable_outputs_fail_without_leaving_files(tmp_path):
    from transpose_live.paths import check_writable_dir, check_writable_file
    from transpose_live.pipeline.writers import JsonlWriter, VideoWriter

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for make in (lambda: VideoWriter(blocker / "o.mp4", 10, (64, 48)), lambda: JsonlWriter(blocker / "o.jsonl"),
                 lambda: check_writable_file(tmp_path), lambda: check_writable_dir(blocker / "d")):
        with pytest.raises(UserError, match="cannot|folder"):
            make()
    assert check_writable_file(tmp_path / "new" / "o.json") == tmp_path / "new" / "o.json"
    assert not (tmp_path / "new" / "o.json").exists() and list((tmp_path / "new").iterdir()) == []


def test_coco_results_format(tmp_path):
    from transpose_live.pipeline.writers import CocoResultsWriter, coco_image_id

    assert coco_image_id("000000000139.jpg", 5) == 139 and coco_image_id("bus.jpg", 5) == 5
    kpts = _person(0, 0, score=0.5)
    kpts[0, 2] = 0.1
    w = CocoResultsWriter(tmp_path / "r.json")
    w.write(_frame(0, "000000000139.jpg"), Poses(kpts[None], [[0, 0, 50, 100]], [0.8]), None)
    w.write(_frame(1, "x.jpg"), Poses.empty(), None)
    assert not (tmp_path / "r.json").exists()  # written under a temporary name until complete
    w.close()
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    entries = json.loads((tmp_path / "r.json").read_text())
    assert len(entries) == 1 and entries[0]["image_id"] == 139 and entries[0]["category_id"] == 1
    assert len(entries[0]["keypoints"]) == 51 and entries[0]["score"] == pytest.approx(0.4)


def _frame(index, name=None):
    from transpose_live.pipeline import Frame

    return Frame(index, np.zeros((8, 8, 3), np.uint8), 0.0, 0.0, name=name)


# --- the whole chain ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def video_run(clip, estimator, detector, tmp_path_factory):
    from transpose_live.pipeline import JsonlWriter, VideoWriter, open_video, run_pipeline

    out = tmp_path_factory.mktemp("run")
    source = open_video(clip)
    writers = [VideoWriter(out / "o.mp4", source.fps, source.size), JsonlWriter(out / "o.jsonl")]
    result = run_pipeline(source, estimator, detector, writers=writers, progress=False)
    return result, out


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_pipeline_video_outputs_match_input(video_run, clip, yolo):
    result, out = video_run
    assert result.frames == CLIP_FRAMES and result.interrupted is None
    assert count_frames(out / "o.mp4") == (CLIP_FRAMES, 384, 288)
    lines = (out / "o.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(CLIP_FRAMES))
    assert records[1]["timestamp"] == pytest.approx(0.1)
    cap = cv2.VideoCapture(str(clip))
    for rec in records:
        ok, img = cap.read()
        expected = yolo_boxes(yolo, img)
        assert len(expected) == 3  # the three dancers
        got = sort_boxes([p["box"] for p in rec["persons"]])
        np.testing.assert_allclose(got, expected, atol=0.5)
        for p in rec["persons"]:
            assert len(p["keypoints"]) == 17 and all(np.isfinite(v) for k in p["keypoints"] for v in k)
    assert result.persons == 3 * CLIP_FRAMES


def test_pipeline_stage_timings(video_run):
    result, _ = video_run
    fps = result.stage_fps()
    assert set(fps) == {"read", "detect", "pose", "render", "encode"}
    assert result.stage_calls["pose"] == CLIP_FRAMES and result.detector_runs == CLIP_FRAMES
    assert all(v > 0 for v in fps.values()) and "stage fps" in result.summary()


def test_pipeline_no_persons_and_boxes_outside(estimator, tmp_path):
    """A frame without people gives an empty record; a box hanging off the frame still works."""
    from transpose_live.pipeline import ImageDirWriter, ImageSource, JsonlWriter, run_pipeline

    cv2.imwrite(str(tmp_path / "a_black.png"), np.zeros((120, 160), np.uint8))  # grayscale too
    img = cv2.imread(str(sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[0]))
    cv2.imwrite(str(tmp_path / "b_person.png"), cv2.cvtColor(img, cv2.COLOR_BGR2BGRA))  # 4 channels

    def detector(image):
        if image.max() == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        h, w = image.shape[:2]
        return np.array([[-40, -30, w * 0.6, h + 50], [w - 20, h - 20, w + 80, h + 90]], np.float32), \
            np.array([0.9, 0.5], np.float32)

    writers = [JsonlWriter(tmp_path / "o.jsonl"), ImageDirWriter(tmp_path / "out")]
    result = run_pipeline(ImageSource(tmp_path), estimator, detector, writers=writers, progress=False, max_persons=5)
    recs = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["image"] for r in recs] == ["a_black.png", "b_person.png"]
    assert recs[0]["persons"] == [] and len(recs[1]["persons"]) == 2
    assert all(np.isfinite(v) for p in recs[1]["persons"] for k in p["keypoints"] for v in k)
    assert cv2.imread(str(tmp_path / "out" / "b_person.png")).shape == img.shape
    assert result.frames == 2 and result.persons == 2


def test_pipeline_det_every_uses_keypoint_boxes(clip, detector):
    """With --det-every 3 the detector runs on frames 0 and 3 when keypoints carry people over."""
    from transpose_live.pipeline import open_video, run_pipeline

    class KeypointsInsideBoxes:  # confident keypoints spread over each box
        def estimate(self, frame, boxes, box_scores=None, return_attention=False):
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            k = np.zeros((len(boxes), 17, 3), np.float32)
            t = np.linspace(0.1, 0.9, 17)
            k[:, :, 0] = boxes[:, :1] + t * (boxes[:, 2:3] - boxes[:, :1])
            k[:, :, 1] = boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])
            k[:, :, 2] = 0.9
            return Poses(k, boxes, np.ones(len(boxes)) if box_scores is None else box_scores)

    result = run_pipeline(open_video(clip), KeypointsInsideBoxes(), detector, det_every=3, progress=False)
    assert result.frames == CLIP_FRAMES and result.detector_runs == 2 and result.persons == 3 * CLIP_FRAMES


def test_pipeline_renders_attention_overlay_with_render_frame(clip, estimator, detector):
    """`--attention` through run_pipeline: the written frames are exactly `render_frame` of each
    frame with that keypoint's attention, and differ from the frames rendered without it."""
    from transpose_live.pipeline import open_video, run_pipeline
    from transpose_live.pipeline.render import render_frame

    class Capture:
        needs_image = True

        def __init__(self):
            self.items = []

        def write(self, frame, poses, image):
            self.items.append((frame, poses, image))

        def close(self):
            pass

        def abort(self):
            pass

    capture = Capture()
    run_pipeline(open_video(clip), estimator, detector, writers=[capture], attention_keypoint=9, hud=False,
                 max_frames=2, progress=False)
    assert len(capture.items) == 2
    for frame, poses, image in capture.items:
        assert len(poses) == 3 and poses.attention is not None and poses.attention.shape == (3, 17, 32, 24)
        np.testing.assert_array_equal(image, render_frame(frame.image, poses, 0.3, attention_keypoint=9))
        assert np.abs(image.astype(int) - render_frame(frame.image, poses, 0.3).astype(int)).sum() > 0


def test_closed_output_ends_the_run_like_the_end_of_input(clip):
    """A writer raising EndOfOutput (a closed stdout pipe) stops the run after that frame; the other
    writers are closed (kept), not aborted; --detector none has no detect stage."""
    from transpose_live.pipeline import EndOfOutput, PipelineOptions, WholeFrameDetector, open_video, run_pipeline

    class Boxes:  # one confident pose per box
        def estimate(self, frame, boxes, box_scores=None, return_attention=False):
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            k = np.ones((len(boxes), 17, 3), np.float32)
            return Poses(k, boxes, np.ones(len(boxes), np.float32))

    class Pipe:
        needs_image = False

        def __init__(self, lines):
            self.lines, self.state = lines, "open"

        def write(self, frame, poses, image):
            if frame.index >= self.lines:
                raise EndOfOutput
            self.state = f"wrote {frame.index}"

        def close(self):
            self.state += ", closed"

        def abort(self):
            self.state += ", aborted"

    pipe, other = Pipe(2), Pipe(CLIP_FRAMES)
    result = run_pipeline(open_video(clip), Boxes(), WholeFrameDetector(), writers=[pipe, other],
                          options=PipelineOptions(progress=False, queue_size=1))
    assert pipe.state == "wrote 1, closed" and other.state.endswith(", closed")
    assert 3 <= result.frames < CLIP_FRAMES and result.interrupted is None
    assert "detect" not in result.stage_fps() and "detect" not in result.summary() and "detector on" not in result.summary()


def test_pipeline_options_follow_the_run_config():
    from transpose_live.config import RunConfig
    from transpose_live.pipeline import PipelineOptions

    assert PipelineOptions() == PipelineOptions.from_config(RunConfig())
    opts = PipelineOptions.from_config(RunConfig.for_command("webcam", det_every=4, kpt_thr=0.5), max_frames=3)
    assert (opts.det_every, opts.kpt_thr, opts.hud, opts.max_frames) == (4, 0.5, True, 3)
    assert not PipelineOptions.from_config(RunConfig.for_command("video")).hud
