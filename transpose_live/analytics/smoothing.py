"""Zero-lag smoothing of recorded keypoints (files are not live, so the smoother looks ahead).

One track's keypoints over time, (T, K, 3) [x, y, score] (or (T, K, 4) [x, y, z, score] for triangulated 3D)
with NaN / low scores where a keypoint was not measured:

1. Gap filling: a dropout of at most `max_gap` frames (default 10 = 1/3 s at 30 fps) between two measured
   samples is filled by linear interpolation in time; its score is the lower of its two neighbours' scores.
   Longer gaps stay unmeasured (NaN angles), and nothing is extrapolated past a track's ends.
2. Smoothing, forward-backward on each run of measured samples:
   - `rts` (default): filterpy's Kalman filter with a constant-velocity model (white-noise acceleration),
     then its Rauch-Tung-Striebel smoother, in person-scale units (box size) so one setting fits near and
     far people; uneven timestamps are used as they are.
   - `savgol`: scipy's Savitzky-Golay filter (quadratic, a window of about 0.3 s); runs shorter than the
     window are left as measured.
   Both are symmetric in time, so a movement is not delayed (One-Euro, a causal filter, lags behind).
"""

from __future__ import annotations

import numpy as np

from transpose_live.config import KEYPOINT_THRESHOLD

SMOOTHERS = ("rts", "savgol", "none")
MAX_GAP = 10  # frames
RTS_Q = 5.0  # white-noise acceleration spectral density, (person scales)^2 / s^3
RTS_R = 0.008  # measurement noise standard deviation, person scales
SAVGOL_SECONDS = 0.3


def measured_runs(ok: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) spans where `ok` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def fill_gaps(kpts: np.ndarray, times: np.ndarray, kpt_thr: float, max_gap: int = MAX_GAP) -> np.ndarray:
    """A copy of (T, K, 3) with dropouts of <= max_gap frames interpolated (see the module notes)."""
    out = np.array(kpts, np.float64)
    for k in range(out.shape[1]):
        ok = out[:, k, -1] >= kpt_thr
        ok &= np.isfinite(out[:, k, :-1]).all(axis=-1)
        runs = measured_runs(~ok)
        for a, b in runs:
            if a == 0 or b == len(ok) or b - a > max_gap:
                continue
            w = (times[a:b] - times[a - 1]) / max(times[b] - times[a - 1], 1e-9)
            out[a:b, k, :-1] = (1 - w)[:, None] * out[a - 1, k, :-1] + w[:, None] * out[b, k, :-1]
            out[a:b, k, -1] = min(out[a - 1, k, -1], out[b, k, -1])
    return out


def _rts(z: np.ndarray, times: np.ndarray, q: float, r: float) -> np.ndarray:
    """Constant-velocity Kalman filter + RTS smoother (filterpy) of (n, D) coordinates measured together
    (each coordinate its own position / velocity pair, one filterpy call for all of them)."""
    from filterpy.common import Q_discrete_white_noise
    from filterpy.kalman import KalmanFilter, rts_smoother

    n, d = z.shape
    kf = KalmanFilter(dim_x=2 * d, dim_z=d)
    kf.x = np.zeros(2 * d)
    kf.x[0::2] = z[0]
    kf.P = np.kron(np.eye(d), np.diag([r * r, 1.0]))
    kf.H = np.kron(np.eye(d), np.array([[1.0, 0.0]]))
    kf.R = np.eye(d) * r * r
    dts = np.diff(times, prepend=times[0])
    dts = np.where(dts > 0, dts, np.median(dts[dts > 0]) if (dts > 0).any() else 1 / 30)
    Fs, Qs = np.empty((n, 2 * d, 2 * d)), np.empty((n, 2 * d, 2 * d))
    for i, dt in enumerate(dts):
        Fs[i] = np.kron(np.eye(d), np.array([[1.0, dt], [0.0, 1.0]]))
        Qs[i] = Q_discrete_white_noise(dim=2, dt=dt, var=q, block_size=d)
    mu, cov, _, _ = kf.batch_filter(z, Fs=Fs, Qs=Qs)
    xs, _, _, _ = rts_smoother(mu, cov, Fs, Qs)
    return xs[:, 0::2]


def _savgol(xy: np.ndarray, times: np.ndarray) -> np.ndarray:
    from scipy.signal import savgol_filter

    fps = 1 / np.median(np.diff(times)) if len(times) > 1 and np.median(np.diff(times)) > 0 else 30.0
    window = max(5, int(round(SAVGOL_SECONDS * fps)) | 1)
    if len(xy) < window:
        return xy
    return savgol_filter(xy, window, 2, axis=0)


def smooth_keypoints(kpts: np.ndarray, times: np.ndarray, scale: float, kpt_thr: float = KEYPOINT_THRESHOLD,
                     method: str = "rts", max_gap: int = MAX_GAP, rts_r: float = RTS_R) -> np.ndarray:
    """One track's (T, K, 3) keypoints -> gap-filled, smoothed copy (scores kept; unmeasured points
    untouched). `scale`: the person's size in pixels (box (w + h) / 2), the unit of the RTS noise levels;
    `rts_r`: the measurement noise in person scales (triangulation passes the one it measured)."""
    if method not in SMOOTHERS:
        raise ValueError(f"smoother must be one of {SMOOTHERS}, not {method!r}")
    times = np.asarray(times, np.float64)
    out = fill_gaps(kpts, times, kpt_thr, max_gap)
    if method == "none":
        return out
    scale = max(float(scale), 1e-6)
    groups: dict[tuple[int, int], list[int]] = {}  # keypoints measured over the same frames: filtered together
    for k in range(out.shape[1]):
        ok = (out[:, k, -1] >= kpt_thr) & np.isfinite(out[:, k, :-1]).all(axis=-1)
        for a, b in measured_runs(ok):
            if b - a >= 3:
                groups.setdefault((a, b), []).append(k)
    for (a, b), ks in groups.items():
        xy = out[a:b, ks, :-1].reshape(b - a, -1) / scale
        sm = _rts(xy, times[a:b], RTS_Q, rts_r) if method == "rts" else _savgol(xy, times[a:b])
        out[a:b, ks, :-1] = sm.reshape(b - a, len(ks), -1) * scale
    return out
