"""Checkpoints of other keypoint sets (MPII-16, a custom 5-point set) through inference: `image`,
`video`, `explain`, `export` and exported files take the model, crop size and keypoints from the
checkpoint; the renderer draws its skeleton, the writers name its keypoints, flip test swaps its
left/right joints, the tracker smooths any number of keypoints."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from helpers import (
    CLIPS,
    COCO_MINI,
    assert_keypoints_agree,
    assert_one_line_error,
    cli,
    require_shared,
    torso_annotations,
    trained_checkpoint,
    write_clip,
)
from transpose_live.engine import PoseEstimator, describe_model
from transpose_live.keypoints import MPII16, KeypointSet
from transpose_live.pipeline.render import CENTRE, LEFT, RIGHT, draw_poses, limb_colour
from transpose_live.poses import Poses
from transpose_live.tracking import PoseTracker

# A custom 5-point set as a user's COCO category would give it (flip pairs derived from the names).
FACE5 = KeypointSet(("head", "left_hand", "right_hand", "left_foot", "right_foot"),
                    ((0, 1), (0, 2), (0, 3), (0, 4)), ((1, 2), (3, 4)))


@pytest.fixture(scope="module")
def mpii_ckpt(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory.mktemp("mpii") / "best.pth", "tp_r_a3", MPII16, (128, 96))


@pytest.fixture(scope="module")
def face_ckpt(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory.mktemp("face") / "best.pth", "tp_r_a3", FACE5, (64, 48), seed=1)


@pytest.fixture(scope="module")
def photo():
    path = require_shared(COCO_MINI / "val2017")
    return sorted(path.glob("*.jpg"))[0]


def test_checkpoint_describes_its_model_and_keypoints(mpii_ckpt):
    spec, keypoints = describe_model(None, mpii_ckpt)
    assert (spec.name, spec.input_size, spec.heatmap_size) == ("tp_r_a3", (128, 96), (32, 24))
    assert keypoints == MPII16
    est = PoseEstimator(weights=mpii_ckpt, device="cpu", flip_test=False)
    assert est.spec.input_size == (128, 96) and est.keypoints == MPII16
    frame = np.full((200, 160, 3), 90, np.uint8)
    assert est.estimate(frame, [[10, 10, 150, 190]]).keypoints.shape == (1, 16, 3)
    assert est.estimate(frame, np.zeros((0, 4))).keypoints.shape == (0, 16, 3)
    with pytest.raises(Exception, match="holds a trained tp_r_a3 model, not tp_h_s"):
        describe_model("tp_h_s", mpii_ckpt)


def test_flip_test_swaps_the_checkpoints_own_left_and_right(mpii_ckpt):
    """With the flip test, a mirrored frame gives the mirrored pose with MPII's left/right joints
    swapped: what the set's flip pairs (not COCO's) must achieve."""
    est = PoseEstimator(weights=mpii_ckpt, device="cpu", flip_test=True, decoder="classic")
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur((rng.random((192, 144, 3)) * 255).astype(np.uint8), (9, 9), 3)
    w = frame.shape[1] - 1  # pixel x -> w - x mirrors the frame
    box = np.array([[20.0, 8.0, 124.0, 184.0]])
    mirrored_box = np.array([[w - 124.0, 8.0, w - 20.0, 184.0]])
    a = est.estimate(frame, box).keypoints[0]
    b = est.estimate(np.ascontiguousarray(frame[:, ::-1]), mirrored_box).keypoints[0]
    b = b[MPII16.flip_permutation()]  # the mirrored frame's left wrist is the original's right wrist
    np.testing.assert_allclose(b[:, 2], a[:, 2], rtol=1e-4, atol=1e-5)
    # positions: equal up to the decoder's quarter-cell offset, whose direction can tip on near-ties (~1.8 px)
    np.testing.assert_allclose(w - b[:, 0], a[:, 0], atol=2.0)
    np.testing.assert_allclose(b[:, 1], a[:, 1], atol=2.0)


def test_renderer_draws_the_sets_skeleton_with_sides_from_names():
    assert limb_colour(12, 11, MPII16) == RIGHT and limb_colour(13, 14, MPII16) == LEFT  # r/l arms
    assert limb_colour(7, 8, MPII16) == CENTRE
    assert limb_colour(5, 7) == LEFT and limb_colour(6, 8) == RIGHT  # COCO stays as it was
    kpts = np.zeros((1, 16, 3), np.float32)
    kpts[0, :, 2] = 1.0
    kpts[0, 12, :2], kpts[0, 11, :2] = (100, 100), (380, 100)  # r_shoulder -> r_elbow: a right limb
    kpts[0, [i for i in range(16) if i not in (11, 12)], :2] = (20, 460)
    poses = Poses(keypoints=kpts, boxes=np.zeros((1, 4)), box_scores=np.ones(1))
    image = draw_poses(np.zeros((480, 480, 3), np.uint8), poses, boxes=False, keypoints=MPII16)
    assert tuple(image[100, 240]) == RIGHT  # the limb between them, in the right side's colour
    plain = draw_poses(np.zeros((480, 480, 3), np.uint8), poses, boxes=False)  # no set given: points only
    assert tuple(plain[100, 240]) == (0, 0, 0) and plain[100, 100].any()


@pytest.mark.parametrize("smooth", ["one-euro", "kalman"])
def test_tracker_smooths_any_number_of_keypoints(smooth):
    tracker = PoseTracker(smooth=smooth, associate="oks")
    rng = np.random.default_rng(0)
    base = np.concatenate([rng.random((1, 5, 2)) * 100 + 50, np.ones((1, 5, 1))], axis=-1).astype(np.float32)
    ids = []
    for t in range(6):
        jitter = base.copy()
        jitter[..., :2] += rng.normal(0, 2, (1, 5, 2))
        out = tracker.update(Poses(keypoints=jitter, boxes=[[40, 40, 160, 160]], box_scores=[0.9]), t / 30)
        assert out.keypoints.shape == (1, 5, 3)
        ids.append(int(out.track_ids[0]))
    assert len(set(ids)) == 1 and ids[0] >= 0


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_image_command_with_a_16_keypoint_checkpoint(mpii_ckpt, photo, tmp_path):
    out, js, table = tmp_path / "rendered", tmp_path / "poses.jsonl", tmp_path / "poses.csv"
    done = cli("image", photo, "--weights", mpii_ckpt, "--device", "cpu", "--detector", "none",
               "--kpt-thr", "0", "--out", out, "--json", js, "--csv", table, "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(js.read_text().splitlines()[0])
    assert len(record["persons"]) == 1 and len(record["persons"][0]["keypoints"]) == 16
    header = next(csv.reader(table.open()))
    assert header[-3:] == ["l_wrist_x", "l_wrist_y", "l_wrist_score"] and "nose_x" not in header
    rendered = cv2.imread(str(out / photo.name))
    original = cv2.imread(str(photo))
    assert rendered.shape == original.shape and np.abs(rendered.astype(int) - original).sum() > 0


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_export_and_explain_with_a_custom_5_keypoint_checkpoint(face_ckpt, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, require_shared(CLIPS / "squat.mp4"), 4)
    for command in (["video", clip], ["webcam", "--camera", clip, "--no-show"]):
        js = tmp_path / f"{command[0]}.jsonl"
        done = cli(*command, "--weights", face_ckpt, "--device", "cpu", "--detector", "none", "--smooth", "kalman",
                   "--attention", "left_hand", "--backend", "torch", "--out", tmp_path / f"{command[0]}.mp4",
                   "--json", js, "--no-progress")
        assert done.returncode == 0, done.stderr[-2000:]
        frames = [json.loads(line) for line in js.read_text().splitlines()]
        assert 1 <= len(frames) <= 4 and all(len(p["keypoints"]) == 5 for f in frames for p in f["persons"])
        assert command[0] == "webcam" or len(frames) == 4  # a live camera drops frames it cannot keep up with

    onnx = tmp_path / "face.onnx"
    done = cli("export", "--weights", face_ckpt, "--out", onnx)  # no model name: the checkpoint's own
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads(onnx.with_suffix(".json").read_text())
    assert (meta["model"], meta["input_size"], meta["keypoints"]) == ("tp_r_a3", [64, 48], list(FACE5.names))
    assert meta["skeleton"] == [list(p) for p in FACE5.skeleton] and meta["flip_pairs"] == [[1, 2], [3, 4]]
    frame = cv2.GaussianBlur((np.random.default_rng(5).random((240, 320, 3)) * 255).astype(np.uint8), (7, 7), 2)
    boxes = [[80, 40, 240, 220]]
    torch_kpts = PoseEstimator(weights=face_ckpt, device="cpu", flip_test=True).estimate(frame, boxes).keypoints
    onnx_est = PoseEstimator(weights=onnx, device="cpu", flip_test=True)
    assert onnx_est.keypoints == FACE5 and onnx_est.backend == "onnxruntime"
    assert_keypoints_agree(onnx_est.estimate(frame, boxes).keypoints, torch_kpts, atol=1e-3)

    panel = tmp_path / "panel.png"
    done = cli("explain", clip_frame(clip, tmp_path), "--weights", face_ckpt, "--detector", "none", "--device",
               "cpu", "--keypoints", "left_hand,head", "--out", panel)
    assert done.returncode == 0, done.stderr[-2000:]
    assert cv2.imread(str(panel)) is not None
    assert_one_line_error(cli("explain", clip_frame(clip, tmp_path), "--weights", face_ckpt, "--detector", "none",
                              "--device", "cpu", "--keypoints", "nose", "--out", tmp_path / "p2.png"),
                          "choose from: head, left_hand")


def clip_frame(clip, folder):
    path = folder / "frame0.png"
    if not path.exists():
        ok, image = cv2.VideoCapture(str(clip)).read()
        assert ok
        cv2.imwrite(str(path), image)
    return path


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_weights_verify_reads_the_checkpoints_own_model(mpii_ckpt):
    done = cli("weights", "verify", mpii_ckpt)
    assert done.returncode == 0 and "fits tp_r_a3 (16 keypoints, 128x96 crops" in done.stdout, done.stderr[-1500:]
    assert_one_line_error(cli("weights", "verify", mpii_ckpt, "--model", "tp_h_s"), "pass --model tp_r_a3")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_mismatched_options_are_one_line(mpii_ckpt, photo, tmp_path):
    assert_one_line_error(cli("image", photo, "--model", "tp_h_s", "--weights", mpii_ckpt, "--device", "cpu",
                              "--detector", "none", "--json", tmp_path / "x.jsonl"), "pass --model tp_r_a3")
    assert_one_line_error(cli("image", photo, "--weights", mpii_ckpt, "--attention", "nose", "--device", "cpu",
                              "--detector", "none", "--json", tmp_path / "x.jsonl"), "choose from: r_ankle")
    assert not (tmp_path / "x.jsonl").exists()


def test_coco_evaluation_of_a_custom_keypoint_set(tmp_path):
    """pycocotools scores a 5-keypoint category with a sigma per joint of its own: the ground truth as
    results is AP 1, the same poses shifted by a tenth of each person's size score lower."""
    from transpose_live.evaluation import evaluate_keypoints, load_coco

    coco = load_coco(torso_annotations(require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json"),
                                       tmp_path / "torso.json"))
    anns = [a for a in coco.anns.values() if a["num_keypoints"] > 0]
    perfect = [{"image_id": a["image_id"], "category_id": 7, "keypoints": a["keypoints"], "score": 1.0} for a in anns]
    assert evaluate_keypoints(coco, perfect)["AP"] == pytest.approx(1.0)
    shifted = []
    for a, entry in zip(anns, perfect):
        k = np.asarray(entry["keypoints"], float).reshape(5, 3)
        k[:, 0] += 0.1 * a["bbox"][2]
        shifted.append(dict(entry, keypoints=k.ravel().tolist()))
    assert evaluate_keypoints(coco, shifted)["AP"] < 0.9
