"""The analytics parts on constructed inputs whose answers are known by geometry: angle conventions,
the rep state machine (hysteresis, minimum duration, direction, sides) and the file smoother's lag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transpose_live.analytics.angles import angle_defs, compute_angles
from transpose_live.analytics.exercises import Exercise, load_exercise
from transpose_live.analytics.reps import RepCounter
from transpose_live.analytics.smoothing import fill_gaps, smooth_keypoints
from transpose_live.keypoints import COCO17, MPII16, KeypointSet
from transpose_live.tracking.one_euro import OneEuroFilter

DEFS = angle_defs(COCO17)
COL = {d.name: j for j, d in enumerate(DEFS)}


def _person(**points) -> np.ndarray:
    """COCO-17 keypoints (score 1) with the given name -> (x, y); the others at (0, 0) with score 0."""
    k = np.zeros((17, 3))
    for name, (x, y) in points.items():
        k[COCO17.index(name)] = (x, y, 1.0)
    return k


def test_angle_names_follow_the_keypoint_set():
    assert [d.name for d in DEFS] == ["left_knee", "right_knee", "left_hip", "right_hip", "left_elbow",
                                      "right_elbow", "left_shoulder", "right_shoulder", "left_shank",
                                      "right_shank", "trunk"]
    assert {d.name for d in angle_defs(MPII16)} >= {"l_knee", "r_knee", "l_elbow", "r_shank", "trunk"}
    feet = KeypointSet(("left_hip", "left_knee", "left_ankle", "left_big_toe"))
    assert [(d.name, d.joint) for d in angle_defs(feet)] == [("left_knee", "knee"), ("left_ankle", "ankle")]


def test_joint_angles_degrees_straight_180_and_nan_below_threshold():
    straight = _person(left_hip=(100, 100), left_knee=(100, 200), left_ankle=(100, 300))
    right = _person(left_hip=(100, 100), left_knee=(100, 200), left_ankle=(200, 200))
    a = compute_angles(np.stack([straight, right]), DEFS)
    assert a[:, COL["left_knee"]] == pytest.approx([180.0, 90.0])
    assert np.isnan(a[:, COL["right_knee"]]).all()  # no right leg: NaN, never 0
    low = straight.copy()
    low[COCO17.index("left_knee"), 2] = 0.29
    assert np.isnan(compute_angles(low, DEFS, kpt_thr=0.3)[COL["left_knee"]])
    assert compute_angles(low, DEFS, kpt_thr=0.2)[COL["left_knee"]] == pytest.approx(180.0)


def test_trunk_and_shank_inclination_to_the_vertical():
    upright = _person(left_hip=(90, 200), right_hip=(110, 200), left_shoulder=(90, 100), right_shoulder=(110, 100),
                      left_knee=(90, 300), left_ankle=(90, 400))
    lying = _person(left_hip=(200, 90), right_hip=(200, 110), left_shoulder=(100, 90), right_shoulder=(100, 110))
    a = compute_angles(np.stack([upright, lying]), DEFS)
    assert a[:, COL["trunk"]] == pytest.approx([0.0, 90.0])
    assert a[0, COL["left_shank"]] == pytest.approx(0.0)


def test_a_full_turn_of_the_forearm_never_jumps():
    """The elbow angle of a forearm swept through 360 degrees in 1-degree steps changes by at most about
    one degree per step (no wrap-around jump) and stays in [0, 180]."""
    rows = []
    for deg in range(0, 361):
        r = math.radians(deg)
        rows.append(_person(left_shoulder=(100, 0), left_elbow=(100, 100),
                            left_wrist=(100 + 80 * math.sin(r), 100 + 80 * math.cos(r))))
    elbow = compute_angles(np.stack(rows), DEFS)[:, COL["left_elbow"]]
    assert np.nanmin(elbow) >= 0 and np.nanmax(elbow) <= 180
    assert np.abs(np.diff(elbow)).max() <= 1.01


def _count(ex: Exercise, series, fps=30.0, sides=(-1,)):
    counter = RepCounter(ex, 1, sides)
    for i, v in enumerate(series):
        counter.update(i / fps, {s: float(v) for s in sides})
    return counter


def test_hysteresis_minimum_duration_and_start_mid_rep():
    squat = load_exercise("squat")
    t = np.arange(0, 6, 1 / 30)
    knee = 120 + 55 * np.cos(2 * np.pi * t / 2.0)  # 3 full squats 175 -> 65 -> 175
    assert _count(squat, knee).count == 3
    noisy = np.clip(knee + np.random.default_rng(0).normal(0, 8, len(knee)), 0, 180)
    assert _count(squat, noisy).count == 3  # jitter across a threshold is absorbed by the band
    swing = 150 + 25 * np.sin(2 * np.pi * t)  # an arm swing that never reaches the active threshold
    assert _count(squat, swing).count == 0
    quick = 120 + 55 * np.cos(2 * np.pi * np.arange(0, 1.2, 1 / 30) / 0.4)  # 0.4 s bobs: shorter than 0.5 s
    assert _count(squat, quick).count == 0
    assert _count(squat, knee[30:]).count == 2  # starting at the bottom: that half rep is not counted
    holes = knee.copy()
    holes[20:45] = np.nan  # a dropout through a bottom
    assert _count(squat, holes).count == 3


def test_opening_exercises_and_sides():
    jack = load_exercise("jumping jack")
    t = np.arange(0, 4, 1 / 30)
    shoulder = 85 - 70 * np.cos(2 * np.pi * t)  # 15 -> 155 -> 15, 4 times
    assert jack.active > jack.rest and _count(jack, shoulder).count == 4
    curl = load_exercise("biceps-curl", side="both")
    counter = RepCounter(curl, 1, (-1, 1))
    for i, ti in enumerate(t):  # alternating arms: the left curls in the first half, the right in the second
        phase = 100 + 70 * np.cos(2 * np.pi * ti)
        counter.update(ti, {-1: phase if ti < 2 else 170.0, 1: 170.0 if ti < 2 else phase})
    assert counter.count == 4 and sorted(r.side for r in counter.reps) == [-1, -1, 1, 1]
    auto = RepCounter(load_exercise("biceps-curl"), 1, (-1, 1))
    for ti in t:  # the right arm hidden (NaN): auto counts the seen side
        auto.update(ti, {-1: 100 + 70 * np.cos(2 * np.pi * ti), 1: math.nan})
    assert auto.count == 4 and auto.chosen()[0].side == -1


def test_gaps_up_to_max_gap_are_filled_longer_ones_not():
    t = np.arange(40) / 30
    k = np.zeros((40, 1, 3))
    k[:, 0, 0], k[:, 0, 1], k[:, 0, 2] = 10 * t, 5.0, 0.9
    k[10:15, 0, 2] = 0.0  # 5 frames
    k[20:32, 0, 2] = 0.0  # 12 frames
    out = fill_gaps(k, t, kpt_thr=0.3, max_gap=10)
    assert out[10:15, 0, 0] == pytest.approx(10 * t[10:15]) and (out[10:15, 0, 2] == 0.9).all()
    assert (out[20:32, 0, 2] == 0.0).all()


@pytest.mark.parametrize("method", ["rts", "savgol"])
def test_file_smoother_has_no_lag_and_less_jitter_than_one_euro(method):
    """A point moving as a 1 Hz sine with 2 px noise, still for the first second: each file smoother's
    output is not delayed (best-matching shift within 0.06 frames of 0); One-Euro's is (>= 0.2 frames)."""
    fps, scale = 30.0, 300.0
    t = np.arange(0, 4, 1 / fps)
    truth = np.where(t < 1, 0.0, 60 * np.sin(2 * np.pi * (t - 1)))
    noisy = truth + np.random.default_rng(1).normal(0, 2, len(t))
    k = np.stack([noisy, np.full_like(t, 50.0), np.ones_like(t)], axis=-1)[:, None, :]
    smooth = smooth_keypoints(k, t, scale, method=method)[:, 0, 0]
    f = OneEuroFilter()
    euro = np.array([f(np.array([[x, 50.0]]), ti, scale)[0, 0] for x, ti in zip(noisy, t)])

    def lag(y):
        moving = t > 1.2
        shifts = np.arange(-100, 101) / 50  # frames
        err = [np.mean((y[moving] - np.interp(t[moving] - s / fps, t, truth)) ** 2) for s in shifts]
        return float(shifts[int(np.argmin(err))])

    def jitter(y):
        still = (t > 0.2) & (t < 0.95)
        return np.abs(np.diff(y[still], 2)).mean()

    print(method, "lag (frames):", lag(smooth), "one-euro:", lag(euro), "jitter:", jitter(smooth), jitter(euro))
    assert abs(lag(smooth)) <= 0.06 and lag(euro) >= 0.2
    assert jitter(smooth) < 0.5 * jitter(noisy)
    if method == "rts":  # the default: also at most One-Euro's jitter on the still part (savgol: ~2x)
        assert jitter(smooth) <= jitter(euro)
