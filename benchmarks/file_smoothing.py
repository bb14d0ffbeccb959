"""File smoothers (`analyze --smooth rts|savgol`) against the project's live One-Euro filter on real motion.

    python benchmarks/file_smoothing.py [--clips squat.mp4,exercise.avi,...] [--imgsz 320] [--out NAME]

Keypoints: YOLO11n-pose on the shared clips (every frame, tracked by PoseTracker without smoothing, written
as `video --json` would; cached in ~/.cache/transpose-live-bench). Per track and keypoint coordinate, with
the raw measurement as reference (only keypoints scoring >= 0.5):

- jitter: mean |x[t+1] - 2 x[t] + x[t-1]| (px per frame^2) on still frames, where a heavily smoothed copy of
  the raw track moves slower than 0.05 person scales per second;
- lag: on motion frames (that copy faster than 0.5 scales / s), the time shift tau (0.02-frame steps) that
  minimises the squared distance between the smoothed track and the raw one delayed by tau, in ms
  (one tau per clip and method: positive = the smoothed track follows behind).

One-Euro is `tracking.one_euro.OneEuroFilter` with the tracker's defaults and box scale, as `video` runs it.
Writes benchmarks/results/<NAME>.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from analytics_clips import CLIPS, record_yolo_poses  # noqa: E402

from transpose_live.analytics.analysis import track_series  # noqa: E402
from transpose_live.analytics.smoothing import smooth_keypoints  # noqa: E402
from transpose_live.pose_files import read_poses  # noqa: E402
from transpose_live.tracking.one_euro import OneEuroFilter  # noqa: E402

CONF = 0.5
STILL, MOVING = 0.05, 0.5  # person scales per second
METHODS = ("raw", "one-euro", "rts", "savgol")
SHIFTS = np.arange(-200, 201) / 50.0  # frames, 0.02 steps
CACHE = Path.home() / ".cache" / "transpose-live-bench"


def one_euro(series) -> np.ndarray:
    f = OneEuroFilter()
    out = series.keypoints.copy()
    for i, t in enumerate(series.times):
        present = series.keypoints[i, :, 2] >= 0.2
        if present.any():
            out[i, :, :2] = f(np.nan_to_num(series.keypoints[i, :, :2]), float(t), series.scale, present)
    return out


def smoothed(series, method: str) -> np.ndarray:
    if method == "raw":
        return series.keypoints
    if method == "one-euro":
        return one_euro(series)
    return smooth_keypoints(series.keypoints, series.times, series.scale, kpt_thr=0.2, method=method, max_gap=0)


def reference_speed(series) -> np.ndarray:
    """(T, K) speed in scales / s of a 0.5 s Savitzky-Golay copy of the raw track (NaN where unknown)."""
    ref = smooth_keypoints(series.keypoints, series.times, series.scale, kpt_thr=CONF, method="none", max_gap=0)
    from scipy.signal import savgol_filter

    dt = float(np.median(np.diff(series.times))) if len(series.times) > 1 else 1 / 30
    window = max(5, int(round(0.5 / dt)) | 1)
    speed = np.full(ref.shape[:2], np.nan)
    if len(ref) <= window:
        return speed
    ok = ref[:, :, 2] >= CONF
    xy = np.where(ok[..., None], ref[:, :, :2], np.nan)
    filled = np.nan_to_num(xy)
    vel = savgol_filter(filled, window, 2, deriv=1, delta=dt, axis=0)
    speed = np.linalg.norm(vel, axis=-1) / series.scale
    bad = np.lib.stride_tricks.sliding_window_view(np.pad(~ok, ((window // 2,) * 2, (0, 0)), constant_values=True),
                                                   window, axis=0).any(-1)
    speed[bad] = np.nan
    return speed


def jitter_and_shift(raw, out, speed, ok):
    """Sum and count of |acceleration| on still frames; per-shift squared error sums on motion frames."""
    acc = np.linalg.norm(out[2:, :, :2] - 2 * out[1:-1, :, :2] + out[:-2, :, :2], axis=-1)
    still = (speed[1:-1] < STILL) & ok[2:] & ok[1:-1] & ok[:-2]
    shifts = SHIFTS
    err = np.zeros(len(shifts))
    moving = (speed > MOVING) & ok
    idx = np.arange(len(raw), dtype=np.float64)
    count = 0
    for k in range(raw.shape[1]):
        m = np.flatnonzero(moving[:, k] & (idx >= 5) & (idx < len(raw) - 5))
        if not len(m):
            continue
        good = ok[:, k]
        for s, tau in enumerate(shifts):
            for c in range(2):
                delayed = np.interp(m - tau, idx[good], raw[good, k, c])
                err[s] += np.sum((out[m, k, c] - delayed) ** 2)
        count += len(m)
    return float(acc[still].sum()), int(still.sum()), err, count


def truth_of(series, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A noise-free copy of the raw track (zero-phase 4th-order Butterworth low-pass at 3 Hz, at most
    0.3 x fps) on runs of >= 1 s of confident samples; returns it and its mask."""
    from scipy.signal import butter, filtfilt

    from transpose_live.analytics.smoothing import measured_runs

    fps = 1 / float(np.median(np.diff(series.times)))
    b, a = butter(4, min(3.0, 0.3 * fps) / (fps / 2))
    truth = np.zeros(series.keypoints.shape[:2] + (2,))
    good = np.zeros(ok.shape, bool)
    for k in range(ok.shape[1]):
        for s, e in measured_runs(ok[:, k]):
            if e - s >= max(int(fps), 16):
                truth[s:e, k] = filtfilt(b, a, series.keypoints[s:e, k, :2], axis=0)
                good[s:e, k] = True
    return truth, good


def _row(acc, n, err, count, fps) -> dict:
    best, zero = int(np.argmin(err)), int(np.argmin(np.abs(SHIFTS)))
    return {"jitter_px": acc / max(n, 1), "still_samples": n, "lag_frames": float(SHIFTS[best]),
            "lag_ms": 1000 * float(SHIFTS[best]) / fps, "motion_rmse_px": float(np.sqrt(err[zero] / max(count, 1))),
            "motion_samples": count}


def measure(path: Path, noise_seed: int = 0) -> dict:
    """Real: the methods on the recorded keypoints, against the raw ones. Synthetic: the methods on a
    noise-free copy of each track plus Gaussian noise of the clip's own still-frame jitter level, against
    that copy (a known truth, so the lag is exact)."""
    recording = read_poses(path)
    fps = 1 / float(np.median(np.diff(recording.timestamps)))
    real = {m: [0.0, 0, np.zeros(len(SHIFTS)), 0] for m in METHODS}
    synth = {m: [0.0, 0, np.zeros(len(SHIFTS)), 0] for m in METHODS}
    rng = np.random.default_rng(noise_seed)
    for series in track_series(recording):
        if series.present.sum() < 30:
            continue
        ok = series.keypoints[:, :, 2] >= CONF
        speed = reference_speed(series)
        raw = np.where(ok[..., None], series.keypoints, 0.0)
        truth, good = truth_of(series, ok)
        still = good & (speed < STILL)
        sigma = float(np.sqrt(np.mean((series.keypoints[still, :2] - truth[still]) ** 2))) if still.any() else 1.0
        noisy = dataclasses.replace(series, keypoints=np.concatenate(
            [truth + rng.normal(0, sigma, truth.shape), np.where(good, 1.0, 0.0)[..., None]], axis=-1))
        for m in METHODS:
            for totals, ref, src, mask in ((real, raw, series, ok), (synth, truth, noisy, good)):
                out = np.where(mask[..., None], smoothed(src, m)[..., :2], 0.0)
                ref3 = np.concatenate([np.where(mask[..., None], ref[..., :2], 0.0), mask[..., None]], axis=-1)
                for i, v in enumerate(jitter_and_shift(ref3, out, speed, mask)):
                    totals[m][i] += v
    return {"clip": path.stem.split("-yolo")[0], "fps": round(fps, 2),
            "methods": {m: _row(*real[m], fps) for m in METHODS},
            "synthetic": {m: _row(*synth[m], fps) for m in METHODS}}


def markdown(results: list[dict], key: str = "methods") -> str:
    lines = ["| clip | method | jitter on still frames (px/frame²) | lag on motion (ms) | lag (frames) | "
             "RMS error on motion (px) | still / motion samples |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for m, v in r[key].items():
            lines.append(f"| {r['clip']} ({r['fps']:g} fps) | {m} | {v['jitter_px']:.2f} | {v['lag_ms']:.1f} | "
                         f"{v['lag_frames']:.2f} | {v['motion_rmse_px']:.2f} | {v['still_samples']} / {v['motion_samples']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="squat.mp4,exercise.avi,stage-dance.mp4,selfie-jacky_run.mp4")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", default="file-smoothing")
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.clips.split(","):
        poses = CACHE / f"{Path(name).stem}-yolo11n-pose-{args.imgsz}.jsonl"
        if not poses.exists():
            record_yolo_poses(CLIPS / name, poses, imgsz=args.imgsz)
        results.append(measure(poses))
        print(markdown(results[-1:]) + markdown(results[-1:], "synthetic"), flush=True)
    out = ROOT / "benchmarks" / "results"
    (out / f"{args.out}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{args.out}.md").write_text("## Real keypoints (reference: the raw measurement)\n\n" + markdown(results)
                                        + "\n## Known truth (noise-free copy + the clip's own noise level)\n\n"
                                        + markdown(results, "synthetic"))
    print(f"wrote {out / args.out}.json and .md")


if __name__ == "__main__":
    main()
