"""Constant-velocity Kalman filter per keypoint coordinate (filterpy), confidence-weighted.

One `filterpy.kalman.KalmanFilter` per person holds [x, vx] for each coordinate of each
keypoint (17 x 2 coordinates -> 68 states). Noise is in units of the person's scale
((box width + height) / 2), so one parameter set fits near and far people:
  - process noise: white acceleration, std `accel_std` scale units / s^2;
  - measurement noise: std `meas_std` scale units at confidence 1, variance / confidence below;
  - keypoints below `min_score` are predicted, not measured;
  - a measurement further than `gate` standard deviations and `jump` scale units from the
    prediction restarts that keypoint at the measurement (sudden jumps are followed at once).
"""

from __future__ import annotations

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter

ACCEL_STD = 2.0  # scale units / s^2 (raise for fast motion: less smoothing, less overshoot)
MEAS_STD = 0.01  # scale units at confidence 1
INIT_SPEED_STD = 1.0  # scale units / s: velocity uncertainty of a fresh keypoint
GATE = 5.0  # standard deviations (Mahalanobis, per keypoint)
JUMP = 0.1  # scale units: jumps smaller than this are always filtered
MIN_SCORE = 0.2


class KeypointKalman:
    """Kalman smoothing of `num_points` 2-D points of one person.

    `__call__(xy (P,2), t, scale, scores (P,), mask (P,))` returns the filtered (P,2) positions;
    points outside `mask` (or below `min_score`) are predicted only. Points never measured start
    at their first measurement.
    """

    def __init__(self, num_points: int = 17, accel_std: float = ACCEL_STD, meas_std: float = MEAS_STD,
                 gate: float = GATE, jump: float = JUMP, min_score: float = MIN_SCORE,
                 init_speed_std: float = INIT_SPEED_STD) -> None:
        self.num_points = num_points
        self.accel_std, self.meas_std, self.gate, self.jump = accel_std, meas_std, gate, jump
        self.min_score, self.init_speed_std = min_score, init_speed_std
        n = 2 * num_points  # coordinates
        self.kf = KalmanFilter(dim_x=2 * n, dim_z=n)
        self.pos = np.arange(n) * 2  # state index of each coordinate's position (velocity: +1)
        self.seen = np.zeros(num_points, bool)
        self.t: float | None = None
        self._dt: float | None = None
        self._unit_q: np.ndarray | None = None

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forgets all points (mask None) or the masked ones: their next measurement starts afresh."""
        if mask is None:
            self.seen[:] = False
            self.t = None
        else:
            self.seen &= ~np.asarray(mask, bool)

    def _restart(self, points: np.ndarray, xy: np.ndarray, scale: float, scores: np.ndarray) -> None:
        """Puts `points` (bool mask) at their measurements, velocity 0, fresh covariance."""
        kf = self.kf
        for k in np.flatnonzero(points):
            for axis in range(2):
                i = self.pos[2 * k + axis]
                kf.P[i, :] = kf.P[:, i] = kf.P[i + 1, :] = kf.P[:, i + 1] = 0.0
                kf.x[i, 0], kf.x[i + 1, 0] = xy[k, axis], 0.0
                kf.P[i, i] = (self.meas_std * scale) ** 2 / max(scores[k], 1e-3)
                kf.P[i + 1, i + 1] = (self.init_speed_std * scale) ** 2

    def __call__(self, xy: np.ndarray, t: float, scale: float = 1.0, scores: np.ndarray | None = None,
                 mask: np.ndarray | None = None) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(self.num_points, 2)
        scores = np.ones(self.num_points) if scores is None else np.asarray(scores, np.float64)
        measured = scores >= self.min_score
        if mask is not None:
            measured &= np.asarray(mask, bool)
        scale = max(float(scale), 1e-6)
        kf = self.kf
        if self.t is not None:
            dt = float(t) - self.t
            dt = dt if dt > 0 else 1 / 30
            if self._dt != dt:  # same frame interval: reuse F and the unit Q
                kf.F = np.kron(np.eye(2 * self.num_points), np.array([[1.0, dt], [0.0, 1.0]]))
                self._unit_q = Q_discrete_white_noise(2, dt, 1.0, block_size=2 * self.num_points)
                self._dt = dt
            kf.predict(Q=self._unit_q * (self.accel_std * scale) ** 2)
        self.t = float(t)

        fresh = measured & ~self.seen
        prior = kf.x[self.pos, 0].reshape(-1, 2)
        var = np.diag(kf.P)[self.pos].reshape(-1, 2)
        r = (self.meas_std * scale) ** 2 / np.maximum(scores, 1e-3)
        d2 = ((xy - prior) ** 2 / (var + r[:, None])).sum(1)
        far = np.linalg.norm(xy - prior, axis=1) > self.jump * scale
        jumped = measured & self.seen & far & (d2 > self.gate**2)
        self._restart(fresh | jumped, xy, scale, scores)
        self.seen |= measured

        update = measured & ~fresh & ~jumped
        if update.any():
            coords = np.repeat(update, 2)
            H = np.zeros((2 * self.num_points, 2 * 2 * self.num_points))
            H[np.flatnonzero(coords), self.pos[coords]] = 1.0
            R = np.diag(np.where(coords, np.repeat(r, 2), 1.0))
            z = np.where(coords, xy.reshape(-1), 0.0)[:, None]
            kf.update(z, R=R, H=H)
        return kf.x[self.pos, 0].reshape(-1, 2).copy()
