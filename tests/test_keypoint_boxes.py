"""`--det-every`: the scheduler re-detects early when a person is lost or their keypoint scores drop."""

from __future__ import annotations

import numpy as np

from transpose_live.pipeline.keypoint_boxes import BoxScheduler
from transpose_live.poses import Poses


def _people(n: int, score: float = 0.9, ids=None) -> Poses:
    k = np.zeros((n, 17, 3), np.float32)
    for i in range(n):
        k[i, :, 0] = np.linspace(20, 60, 17) + 100 * i
        k[i, :, 1] = np.linspace(20, 150, 17)
    k[:, :, 2] = score
    boxes = np.array([[10 + 100 * i, 10, 70 + 100 * i, 160] for i in range(n)], np.float32)
    return Poses(k, boxes, np.full(n, 0.9, np.float32), track_ids=ids)


def _run(scheduler, observed):
    img = np.zeros((200, 400, 3), np.uint8)
    calls = []

    def detect(image):
        calls.append(1)
        return _people(2).boxes, np.full(2, 0.9, np.float32)

    ran = []
    for poses in observed:
        ran.append(scheduler.boxes(img, detect)[2])
        scheduler.observe(poses)
    return ran


def test_steady_people_are_carried_between_detections():
    ran = _run(BoxScheduler(det_every=4), [_people(2)] * 8)
    assert ran == [True, False, False, False, True, False, False, False]


def test_a_lost_person_triggers_detection():
    sched = BoxScheduler(det_every=10)
    ran = _run(sched, [_people(2), _people(2), _people(1), _people(1), _people(2)])
    assert ran == [True, False, False, True, False] and sched.early_detections == 1


def test_a_score_drop_triggers_detection():
    sched = BoxScheduler(det_every=10, kpt_thr=0.0)
    ids = [4, 7]
    dropped = _people(2, ids=ids)
    dropped.keypoints[1, :, 2] = 0.3  # person 7 falls to a third of its score
    ran = _run(sched, [_people(2, ids=ids), _people(2, ids=ids), dropped, _people(2, ids=ids)])
    assert ran == [True, False, False, True] and sched.early_detections == 1
    # a drop smaller than half the reference score is tolerated
    mild = _people(2, ids=ids)
    mild.keypoints[:, :, 2] = 0.6
    ran = _run(BoxScheduler(det_every=10, kpt_thr=0.0), [_people(2, ids=ids), mild, mild, mild])
    assert ran == [True, False, False, False]
