"""Person tracking: two real COCO person crops cross over a background; ids must not swap,
lost tracks are dropped after `max_missed` frames and newcomers get fresh ids and filters."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import SHARED
from transpose_live.poses import Poses
from transpose_live.tracking import KeypointMatcher, PoseTracker, box_iou

COCO = SHARED / "data" / "coco-mini"
PEOPLE = ("000000406129.jpg", "000000153797.jpg")  # one clearly visible person each
FRAME_W, FRAME_H, N_FRAMES = 640, 360, 40


def _person(ann_file: Path, image_name: str, height: int):
    """(crop BGR resized to `height`, keypoints (17,3) in crop pixels, score 0.9 where labelled)."""
    data = json.loads(ann_file.read_text())
    image = next(i for i in data["images"] if i["file_name"] == image_name)
    ann = max((a for a in data["annotations"] if a["image_id"] == image["id"] and a["num_keypoints"] > 0),
              key=lambda a: a["num_keypoints"])
    x, y, w, h = ann["bbox"]
    frame = cv2.imread(str(COCO / "val2017" / image_name))
    crop = frame[int(y):int(y + h), int(x):int(x + w)]
    s = height / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), height))
    k = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
    kpts = np.stack([(k[:, 0] - int(x)) * s, (k[:, 1] - int(y)) * s, np.where(k[:, 2] > 0, 0.9, 0.0)], 1)
    return crop, kpts


@pytest.fixture(scope="module")
def crossing():
    """Frames plus per frame, per person (0 front, 1 back): box (4,) and keypoints (17,3)."""
    if not COCO.is_dir():
        pytest.skip(f"shared data not found at {COCO}")
    ann = COCO / "annotations" / "person_keypoints_val2017.json"
    people = [_person(ann, PEOPLE[0], 240), _person(ann, PEOPLE[1], 190)]
    background = cv2.imread(str(COCO / "val2017" / "000000343803.jpg"))
    background = cv2.GaussianBlur(cv2.resize(background, (FRAME_W, FRAME_H)), (0, 0), 5)
    starts, ends, tops = [(20, 0), (560, 0)], [(520, 0), (20, 0)], [100, 60]
    frames, boxes, kpts = [], [], []
    for f in range(N_FRAMES):
        a = f / (N_FRAMES - 1)
        img = background.copy()
        fb, fk = [None, None], [None, None]
        for p in (1, 0):  # the back person first, the front one over it
            crop, k = people[p]
            x0 = round(starts[p][0] + a * (ends[p][0] - starts[p][0]))
            y0 = tops[p]
            h, w = crop.shape[:2]
            w = min(w, FRAME_W - x0)
            img[y0:y0 + h, x0:x0 + w] = crop[:, :w]
            fb[p] = np.array([x0, y0, x0 + w, y0 + h], np.float32)
            fk[p] = k + np.array([x0, y0, 0], np.float32)
        frames.append(img)
        boxes.append(fb)
        kpts.append(fk)
    return frames, boxes, kpts


def _observe(boxes, kpts, rng, drop_occluded=True, shuffle=True):
    """Detections of one frame: noisy boxes/keypoints, the back person missed when mostly
    hidden; returns (Poses, ground-truth person of each row)."""
    who = [0, 1]
    if drop_occluded and box_iou(boxes[0], boxes[1])[0, 0] > 0.3:
        who = [0]
    if shuffle:
        who = list(rng.permutation(who))
    b = np.stack([boxes[p] + rng.normal(0, 2, 4) for p in who]).astype(np.float32)
    k = np.stack([kpts[p] + np.concatenate([rng.normal(0, 2, (17, 2)), np.zeros((17, 1))], 1) for p in who])
    return Poses(k, b, np.array([0.9 - 0.05 * p for p in who])), who


def _run(tracker, crossing, from_detector=lambda f: True, seed=0, **kw):
    frames, boxes, kpts = crossing
    rng = np.random.default_rng(seed)
    seen = {0: [], 1: []}
    for f in range(len(frames)):
        poses, who = _observe(boxes[f], kpts[f], rng, **kw)
        out = tracker.update(poses, f / 30, from_detector=from_detector(f))
        for tid, p in zip(out.track_ids, who):
            if tid >= 0:
                seen[p].append(int(tid))
    return seen


def _assert_no_swap(seen):
    ids0, ids1 = set(seen[0]), set(seen[1])
    assert len(ids0) == 1 and len(ids1) == 1, f"ids changed: front {seen[0]}, back {seen[1]}"
    assert ids0 != ids1
    assert len(seen[0]) >= N_FRAMES - 1 and len(seen[1]) >= N_FRAMES // 2


def test_crossing_sequence_is_real(crossing):
    frames, boxes, _ = crossing
    assert frames[0].shape == (FRAME_H, FRAME_W, 3)
    overlaps = [box_iou(b[0], b[1])[0, 0] for b in boxes]
    assert max(overlaps) > 0.4 and overlaps[0] == 0 and overlaps[-1] == 0  # they do cross
    x = [b[0][0] for b in boxes]
    assert x[0] < x[-1]


@pytest.mark.parametrize("smooth", ["one-euro", "kalman", "none"])
def test_bytetrack_no_id_swap_when_crossing(crossing, smooth):
    _assert_no_swap(_run(PoseTracker(smooth=smooth), crossing))


def test_keypoint_boxes_path_no_id_swap(crossing):
    """Two of three frames boxed from the previous keypoints (`--det-every 3`): OKS matcher."""
    tracker = PoseTracker(smooth="one-euro")
    _assert_no_swap(_run(tracker, crossing, from_detector=lambda f: f % 3 == 0, drop_occluded=False))


def test_oks_associator_no_id_swap(crossing):
    _assert_no_swap(_run(PoseTracker(associate="oks"), crossing, drop_occluded=False))


def test_keypoint_matcher_follows_content_not_order():
    rng = np.random.default_rng(1)
    prev = rng.uniform(0, 300, (3, 17, 2))
    prev_k = np.concatenate([prev, np.ones((3, 17, 1))], -1)
    prev_b = np.concatenate([prev.min(1), prev.max(1)], 1)
    order = np.array([2, 0, 1])
    ids = KeypointMatcher()(prev_k[order] + 1.0, prev_b[order], prev_k, prev_b, np.array([7, 8, 9]))
    assert ids.tolist() == [9, 7, 8]


def _one_person(x: float, t_score: float = 0.9) -> Poses:
    k = np.zeros((17, 3), np.float32)
    k[:, 0] = x + np.arange(17) * 3
    k[:, 1] = 100 + np.arange(17) * 10
    k[:, 2] = t_score
    return Poses(k[None], np.array([[x - 10, 80, x + 70, 280]], np.float32), np.array([0.9]))


@pytest.mark.parametrize("associate", ["bytetrack", "oks"])
def test_track_survives_max_missed_then_dropped(associate):
    tracker = PoseTracker(smooth="one-euro", max_missed=30, associate=associate)
    f = 0

    def step(poses):
        nonlocal f
        f += 1
        return tracker.update(poses, f / 30)

    for _ in range(5):
        first = step(_one_person(100)).track_ids[0]
    for _ in range(30):  # missed exactly max_missed frames: kept
        assert len(step(Poses.empty())) == 0
    assert step(_one_person(101)).track_ids[0] == first
    for _ in range(31):  # missed one frame more: dropped
        step(Poses.empty())
    assert first not in tracker.tracks
    new = step(_one_person(200))
    for _ in range(2):  # ByteTrack confirms a new track on its second frame
        if new.track_ids[0] < 0:
            new = step(_one_person(200))
    assert new.track_ids[0] >= 0 and new.track_ids[0] != first


def test_new_person_gets_fresh_filter_state():
    """A newcomer at the old person's place starts at its own measurement, with no memory of
    the old track (one-euro would otherwise drag it toward the old position)."""
    tracker = PoseTracker(smooth="one-euro", max_missed=2, associate="oks")
    for i in range(10):
        tracker.update(_one_person(100), i / 30)
    for i in range(10, 13):
        tracker.update(Poses.empty(), i / 30)
    fresh = _one_person(130)
    out = tracker.update(fresh, 13 / 30)
    assert out.track_ids[0] != 1 and list(tracker.tracks) == [int(out.track_ids[0])]
    np.testing.assert_allclose(out.keypoints[0, :, :2], fresh.keypoints[0, :, :2], atol=1e-4)
    np.testing.assert_allclose(out.keypoints[0, :, 2], 0.9, atol=1e-6)


def test_ids_are_never_reused():
    tracker = PoseTracker(smooth="none", max_missed=0, associate="oks")
    ids = []
    for i in range(6):
        poses = _one_person(100) if i % 2 == 0 else Poses.empty()
        out = tracker.update(poses, i / 30)
        ids += out.track_ids.tolist()
    assert len(ids) == 3 and len(set(ids)) == 3
