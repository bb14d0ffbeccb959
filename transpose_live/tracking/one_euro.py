"""Vectorised One-Euro filter (Casiez et al., CHI 2012) with box-size-normalised speed.

The speed term uses coordinates divided by the person's scale ((box width + height) / 2), so one
parameter set works for near and far people; time is in seconds (frame timestamps). Defaults:
min_cutoff 0.05 Hz and derivative cutoff 1 Hz as MediaPipe's pose landmarks, beta 20 (MediaPipe:
80; ours weighs the speed of the filtered signal, which reads higher while lagging, and our scale
is the detector box): a still keypoint's jitter drops ~80%, lag stays under one frame from
0.2 person scales per second up, a jump is followed within 2 frames, and on real clips
(YOLO11n-pose keypoints) the frame-to-frame acceleration drops ~50%.
"""

from __future__ import annotations

import numpy as np

MIN_CUTOFF = 0.05  # Hz: cutoff at rest (lower = steadier still points)
BETA = 20.0  # speed coefficient: cutoff grows by beta * speed (scale units / s)
D_CUTOFF = 1.0  # Hz: cutoff of the speed estimate
DEFAULT_DT = 1 / 30  # seconds, when a timestamp does not advance


def smoothing_factor(dt: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
    """Exponential smoothing factor of a first-order low-pass at `cutoff` Hz over `dt` seconds."""
    r = 2 * np.pi * cutoff * dt
    return r / (r + 1)


class OneEuroFilter:
    """One-Euro filter over points: arrays (..., D), the last axis one point's coordinates.

    `__call__(x, t, scale, mask)` filters one sample taken at time `t` (seconds); `scale`
    (scalar, in x's units) normalises the speed term; `mask` (shape x.shape[:-1]) marks points
    measured this time, the others hold their last value. Points never measured start at the
    first measurement (no lag from zero).
    """

    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.x: np.ndarray | None = None  # filtered value
        self.dx: np.ndarray | None = None  # filtered velocity (scale units / s)
        self.t: np.ndarray | None = None  # time of each point's last measurement
        self.seen: np.ndarray | None = None  # points measured at least once

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Forgets all points (mask None) or the masked ones: their next sample starts afresh."""
        if mask is None or self.seen is None:
            self.x = self.dx = self.t = self.seen = None
        else:
            self.seen = self.seen & ~np.asarray(mask, bool)

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0, mask: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(x, np.float64)
        points = x.shape[:-1]
        mask = np.ones(points, bool) if mask is None else np.asarray(mask, bool)
        if self.x is None:
            self.x = x.copy()
            self.dx = np.zeros(x.shape)
            self.t = np.full(points, float(t))
            self.seen = np.zeros(points, bool)
        fresh = mask & ~self.seen
        update = mask & self.seen
        scale = max(float(scale), 1e-6)
        if update.any():
            dt = float(t) - self.t[update]
            dt = np.where(dt > 0, dt, DEFAULT_DT)  # repeated / missing timestamps: assume 30 fps
            prev = self.x[update]
            velocity = (x[update] - prev) / dt[..., None] / scale
            a_d = smoothing_factor(dt, self.d_cutoff)[..., None]
            dx = a_d * velocity + (1 - a_d) * self.dx[update]
            speed = np.linalg.norm(dx, axis=-1)  # of the filtered velocity: noise averages out
            a = smoothing_factor(dt, self.min_cutoff + self.beta * speed)[..., None]
            self.x[update] = a * x[update] + (1 - a) * prev
            self.dx[update] = dx
        self.x[fresh] = x[fresh]
        self.dx[fresh] = 0.0
        self.t[mask] = float(t)
        self.seen |= mask
        return self.x.copy()
