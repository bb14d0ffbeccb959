"""Smoothing on a real clip run through the pipeline: the mean frame-to-frame keypoint
acceleration drops by >= 40% with one-euro and kalman smoothing.

The pose stage is YOLO11n-pose (a trained model, so real jitter; no trained TransPose weights
exist on this machine) on squat.mp4 (30 fps). The TransPose engine with the conformance weights
runs through the same pipeline to check ids and jump following on its (jumpy) keypoints."""

from __future__ import annotations


import numpy as np
import pytest

from helpers import SHARED, filled_model
from transpose_live.engine import PoseEstimator
from transpose_live.poses import Poses
from transpose_live.tracking import PoseTracker

CLIP = SHARED / "data" / "clips" / "squat.mp4"
POSE_WEIGHTS = SHARED / "weights" / "yolo11n-pose.pt"
SQUAT_BOX = np.array([[470, 0, 630, 520]], np.float32)  # the person in the first seconds of squat.mp4
FRAMES = 90
MIN_DROP = 0.40

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"shared clip not found at {CLIP}")


def mean_acceleration(keypoints: np.ndarray, valid: np.ndarray) -> float:
    """Mean |x[t+1] - 2 x[t] + x[t-1]| (pixels / frame^2) over keypoints valid in all 3 frames."""
    acc = np.linalg.norm(keypoints[2:, :, :2] - 2 * keypoints[1:-1, :, :2] + keypoints[:-2, :, :2], axis=-1)
    ok = valid[2:] & valid[1:-1] & valid[:-2]
    return float(acc[ok].mean())


class Recorder:
    """A pipeline tracker stage that keeps the raw poses and times it was given."""

    def __init__(self, inner: PoseTracker) -> None:
        self.inner, self.raw, self.times = inner, [], []

    def update(self, poses: Poses, t: float, **kw) -> Poses:
        self.raw.append(poses)
        self.times.append(t)
        return self.inner.update(poses, t, **kw)


class FixedBox:
    def __call__(self, image):
        return SQUAT_BOX.copy(), np.ones(1, np.float32)


def _run(estimator, detector, smooth="one-euro", frames=FRAMES):
    from transpose_live.pipeline import CallbackWriter, open_video, run_pipeline

    recorder = Recorder(PoseTracker(smooth=smooth))
    out: list[Poses] = []
    run_pipeline(open_video(CLIP), estimator, detector, tracker=recorder, max_frames=frames, progress=False,
                 writers=[CallbackWriter(lambda frame, poses: out.append(poses))])
    return recorder, out


def _first_person(seq: list[Poses]) -> np.ndarray:
    return np.stack([p.keypoints[0] if len(p) else np.zeros((17, 3), np.float32) for p in seq])


def _check(recorder: Recorder, smoothed: list[Poses], kpt_thr: float) -> dict:
    raw = _first_person(recorder.raw)
    valid = raw[:, :, 2] >= kpt_thr
    drops = {}
    for kind, seq in (("one-euro", smoothed),
                      ("kalman", _replay(recorder, "kalman"))):
        smooth = _first_person(seq)
        drops[kind] = 1 - mean_acceleration(smooth, valid) / mean_acceleration(raw, valid)
    return drops


def _replay(recorder: Recorder, smooth: str) -> list[Poses]:
    tracker = PoseTracker(smooth=smooth)
    return [tracker.update(p, t) for p, t in zip(recorder.raw, recorder.times)]


@pytest.mark.slow
def test_real_clip_yolo_pose_acceleration_drops():
    if not POSE_WEIGHTS.exists():
        pytest.skip(f"pose weights not found at {POSE_WEIGHTS}")
    import torch

    from transpose_live.ultralytics_env import configure_ultralytics_offline

    torch.set_num_threads(2)
    configure_ultralytics_offline()
    from ultralytics import YOLO

    model = YOLO(str(POSE_WEIGHTS))

    class YoloPose:
        """A stand-in pose stage: a trained model's keypoints (the person it finds first)."""

        def estimate(self, frame, boxes, box_scores=None, return_attention=False) -> Poses:
            r = model.predict(frame, imgsz=640, device="cpu", verbose=False)[0]
            if r.keypoints is None or len(r.boxes) == 0:
                return Poses.empty()
            k = r.keypoints.data[:1].float().numpy()
            return Poses(k, r.boxes.xyxy[:1].numpy(), r.boxes.conf[:1].numpy())

    recorder, smoothed = _run(YoloPose(), FixedBox())
    assert len(smoothed) == FRAMES and all(len(p) == 1 for p in smoothed)
    drops = _check(recorder, smoothed, kpt_thr=0.5)
    print("acceleration drop (yolo11n-pose, squat.mp4):", {k: round(v, 3) for k, v in drops.items()})
    for kind, drop in drops.items():
        assert drop >= MIN_DROP, f"{kind}: acceleration only dropped {drop:.0%}"


def _transpose_estimator():
    return PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu", flip_test=False)


@pytest.mark.slow
def test_real_clip_transpose_pipeline_tracks_and_follows():
    """TransPose engine + tracker through the pipeline. Without trained TransPose weights the
    conformance-weight keypoints are piecewise constant with jumps of up to hundreds of pixels
    (no pose jitter to measure), so this checks what they can show: one stable id, finite
    output, and every jump followed within 3 frames by both filters."""
    estimator = _transpose_estimator()
    recorder, smoothed = _run(estimator, FixedBox(), frames=12)
    assert len(smoothed) == 12
    scale = float((SQUAT_BOX[0, 2] - SQUAT_BOX[0, 0] + SQUAT_BOX[0, 3] - SQUAT_BOX[0, 1]) / 2)
    raw = _first_person(recorder.raw)
    for kind, seq in (("one-euro", smoothed), ("kalman", _replay(recorder, "kalman"))):
        ids = {int(p.track_ids[0]) for p in seq}
        assert len(ids) == 1 and min(ids) >= 0, f"{kind}: ids {ids}"
        out = _first_person(seq)
        assert np.isfinite(out).all()
        still = np.zeros(raw.shape[:2], bool)  # unchanged and present for the last 3 frames
        same = (raw[1:, :, :2] == raw[:-1, :, :2]).all(-1)
        present = raw[:, :, 2] >= 0.2
        still[3:] = same[2:] & same[1:-1] & same[:-2] & present[3:] & present[2:-1] & present[1:-2] & present[:-3]
        assert still.sum() > 30 and (~same).sum() > 10  # enough jumps and still stretches
        err = np.linalg.norm(out[:, :, :2] - raw[:, :, :2], axis=-1)[still]
        assert err.max() <= 0.05 * scale, f"{kind}: {err.max():.1f} px behind 3 frames after a jump"
