"""PoseEstimator end to end on a real COCO-MINI image with its ground-truth boxes (fill.py weights)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from helpers import COCO_MINI, assert_keypoints_agree, filled_model, require_shared
from transpose_live.engine import PoseEstimator
from transpose_live.engine.boxes import box_to_center_scale, crop_regions, xyxy_to_xywh
from transpose_live.engine.crops import crop_frame, frame_to_tensor
from transpose_live.errors import UserError
from transpose_live.models import create_model
from transpose_live.poses import Poses


@pytest.fixture(scope="module")
def sample():
    """A val2017 image with several (at most 3, to stay fast) annotated people, and their xyxy GT boxes."""
    ann = json.loads(require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json").read_text())
    people: dict[int, list] = {}
    for a in ann["annotations"]:
        if a["num_keypoints"] > 0 and not a.get("iscrowd", 0):
            people.setdefault(a["image_id"], []).append(a["bbox"])
    image_id = max((i for i in people if len(people[i]) <= 3), key=lambda i: (len(people[i]), -i))
    name = next(im["file_name"] for im in ann["images"] if im["id"] == image_id)
    image = cv2.imread(str(require_shared(COCO_MINI / "val2017" / name)))
    boxes = np.array(people[image_id], np.float32)
    boxes[:, 2:] += boxes[:, :2]
    return image, boxes


@pytest.fixture(scope="module")
def model():
    return filled_model("tp_r_a3")


@pytest.fixture(scope="module")
def est(model):
    return PoseEstimator.from_module(model, "tp_r_a3", device="cpu", flip_test=True)


@pytest.fixture(scope="module")
def est_noflip(model):
    return PoseEstimator.from_module(model, "tp_r_a3", device="cpu", flip_test=False)


@pytest.fixture(scope="module")
def results(sample, est, est_noflip):
    """Poses of the sample with flip test (with attention) and without, computed once."""
    image, boxes = sample
    scores = np.linspace(0.9, 0.5, len(boxes))
    return {True: est.estimate(image, boxes, box_scores=scores, return_attention=True),
            False: est_noflip.estimate(image, boxes, box_scores=scores)}


@pytest.mark.parametrize("flip", [True, False])
def test_estimate_real_image(sample, results, flip):
    image, boxes = sample
    poses = results[flip]
    n = len(boxes)
    assert n >= 2
    assert isinstance(poses, Poses) and len(poses) == n
    assert poses.keypoints.shape == (n, 17, 3) and poses.keypoints.dtype == np.float32
    assert np.isfinite(poses.keypoints).all()
    np.testing.assert_allclose(poses.boxes, boxes)
    np.testing.assert_allclose(poses.box_scores, np.linspace(0.9, 0.5, n), rtol=1e-6)
    assert (poses.track_ids == -1).all() and (poses.attention is None) == (not flip)
    # every keypoint lies in its box's padded crop (the heatmap covers exactly that region)
    region = crop_regions(boxes)
    xy = poses.keypoints[..., :2]
    slack = 2.0
    assert (xy >= region[:, None, :2] - slack).all() and (xy <= region[:, None, 2:] + slack).all()
    # ...and near the box: within one box size of it
    size = (boxes[:, 2:] - boxes[:, :2]).max(axis=1)[:, None, None]
    assert (xy >= boxes[:, None, :2] - size).all() and (xy <= boxes[:, None, 2:] + size).all()


def test_flip_test_changes_the_result(results):
    assert not np.allclose(results[True].keypoints, results[False].keypoints)


def test_batch_matches_single_and_chunking(sample, model, est, results):
    image, boxes = sample
    single = results[True]
    small = PoseEstimator.from_module(model, "tp_r_a3", device="cpu", flip_test=True, max_batch=2)
    chunked = small.estimate(image, boxes)  # one person per forward
    assert_keypoints_agree(chunked.keypoints, single.keypoints, atol=1e-3)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    results = est.estimate_batch([image, mirrored, image], [boxes, boxes[:1], []])
    assert [len(r) for r in results] == [len(boxes), 1, 0]
    assert_keypoints_agree(results[0].keypoints, single.keypoints, atol=1e-3)


def test_out_of_memory_splits_and_retries(sample, model, results, monkeypatch):
    """A forward that runs out of memory is split in halves and retried; the smaller size sticks."""
    image, boxes = sample
    est = PoseEstimator.from_module(model, "tp_r_a3", device="cpu", flip_test=True, max_batch=64)
    real = est._forward_chunk
    sizes = []

    def flaky(crops, want_attention):
        sizes.append(len(crops))
        if len(crops) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(crops, want_attention)

    monkeypatch.setattr(est, "_forward_chunk", flaky)
    poses = est.estimate(image, boxes)
    assert sizes[0] == len(boxes) and max(sizes[1:]) <= len(boxes) // 2 + 1
    assert_keypoints_agree(poses.keypoints, results[True].keypoints, atol=1e-3)
    assert est.max_batch < 64


def test_empty_boxes_return_empty(sample, est):
    image, _ = sample
    for empty in ([], np.zeros((0, 4)), None):
        poses = est.estimate(image, empty)
        assert len(poses) == 0 and poses.keypoints.shape == (0, 17, 3)
    att = est.estimate(image, [], return_attention=True).attention
    assert att.shape == (0, 17, 32, 24)


def test_grey_and_bgra_frames(sample, est_noflip):
    image, boxes = sample
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    ref = est_noflip.estimate(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), boxes[:2]).keypoints
    for frame in (grey, grey[:, :, None]):
        np.testing.assert_allclose(est_noflip.estimate(frame, boxes[:2]).keypoints, ref, atol=1e-4)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    np.testing.assert_allclose(est_noflip.estimate(bgra, boxes[:2]).keypoints,
                               est_noflip.estimate(image, boxes[:2]).keypoints, atol=1e-4)


def test_boxes_partly_outside_frame(sample, est):
    image, _ = sample
    h, w = image.shape[:2]
    boxes = np.array([[-80, -40, 120, 220], [w - 60, h - 150, w + 90, h + 50], [5, 5, 5, 5]], np.float32)
    poses = est.estimate(image, boxes)
    assert poses.keypoints.shape == (3, 17, 3) and np.isfinite(poses.keypoints).all()


def test_bad_inputs_raise_user_error(sample, est):
    image, boxes = sample
    with pytest.raises(UserError, match="boxes"):
        est.estimate(image, np.zeros((2, 3)))
    with pytest.raises(UserError, match="NaN"):
        est.estimate(image, [[0, 0, np.nan, 10]])
    with pytest.raises(UserError, match="frame"):
        est.estimate(np.zeros((10, 10, 2), np.uint8), boxes)
    with pytest.raises(UserError, match="scores"):
        est.estimate(image, boxes, box_scores=[0.5])
    with pytest.raises(UserError, match="decoder"):
        PoseEstimator.from_module(torch.nn.Identity(), "tp_r_a3", decoder="nope")


def test_return_attention(sample, model, est_noflip, results):
    image, boxes = sample
    poses = results[True]
    n = len(boxes)
    att = poses.attention
    assert att.shape == (n, 17, 32, 24) and att.dtype == np.float32
    assert np.isfinite(att).all() and (att >= 0).all()
    np.testing.assert_allclose(att.sum(axis=(-2, -1)), 1.0, atol=1e-4)
    # the rows are those of the tokens at each keypoint's heatmap argmax (no flip: direct check)
    rows = est_noflip.estimate(image, boxes[:1], return_attention=True).attention[0]
    with torch.inference_mode():
        center, scale = box_to_center_scale(xyxy_to_xywh(torch.from_numpy(boxes[:1]).double()))
        crops = crop_frame(frame_to_tensor(image, torch.device("cpu")), center, scale)
        heatmaps, attn = model(crops, return_attention=True)
    idx = heatmaps[0].flatten(1).argmax(-1)
    token = (idx // 48 // 2) * 24 + (idx % 48) // 2
    np.testing.assert_allclose(rows.reshape(17, -1), attn[0, token].numpy(), atol=1e-5)


def test_attention_does_not_change_keypoints(sample, est):
    image, boxes = sample
    plain = est.estimate(image, boxes[:1]).keypoints
    with_att = est.estimate(image, boxes[:1], return_attention=True).keypoints
    np.testing.assert_allclose(with_att, plain, atol=1e-3)


def test_attention_needs_transpose(sample):
    image, boxes = sample
    baseline = PoseEstimator.from_module(create_model("simplebaseline_r50"), "simplebaseline_r50", device="cpu")
    assert baseline.shift_flipped
    with pytest.raises(UserError, match="TransPose"):
        baseline.estimate(image, boxes, return_attention=True)


def test_constructor_loads_weights_file(sample, filled_checkpoint, est_noflip):
    image, boxes = sample
    built = PoseEstimator("tp_r_a3", weights=filled_checkpoint("tp_r_a3"), device="cpu", flip_test=False,
                          decoder="classic")
    assert built.spec.name == "tp_r_a3" and built.device.type == "cpu" and built.half is False
    dark = est_noflip.estimate(image, boxes[:1]).keypoints
    classic = built.estimate(image, boxes[:1]).keypoints
    # same maps: the decoders differ by less than one heatmap pixel (crop width / heatmap width in the image)
    region = crop_regions(np.asarray(boxes[:1], np.float64))[0]
    heatmap_px = (region[2] - region[0]) / built.spec.heatmap_size[1]
    assert np.abs(classic[..., :2] - dark[..., :2]).max() < heatmap_px
    np.testing.assert_allclose(classic[..., 2], dark[..., 2], atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_matches_fp32(sample):
    image, boxes = sample
    fp32 = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu")
    fp16 = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cuda")
    assert fp16.half and fp16.channels_last
    a = fp32.estimate(image, boxes).keypoints
    b = fp16.estimate(image, boxes, return_attention=True)
    assert np.isfinite(b.keypoints).all() and b.attention.shape == (len(boxes), 17, 32, 24)
    size = (boxes[:, 2:] - boxes[:, :2]).max(axis=1)[:, None]
    assert np.median(np.abs(a[..., :2] - b.keypoints[..., :2]).max(-1) / size) < 0.05
