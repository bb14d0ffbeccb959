"""Box motion of one person: a constant-velocity Kalman filter (filterpy) on centre, width and height,
with OC-SORT's observation-centric re-update after a gap.

State [cx, cy, w, h, vcx, vcy, vw, vh] per frame; noise scales with the box height (as ByteTrack's). When a
track is matched again after `g` missed frames, the filter goes back to its state at the last observation
and is re-run over `g - 1` virtual observations on the straight line to the new one (Cao et al., OC-SORT,
CVPR 2023): the velocity after an occlusion is the one of the gap, not the drift of blind predictions.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter

POS_STD = 1 / 20  # of the box height: measurement and position process noise
VEL_STD = 1 / 160  # of the box height per frame: velocity process noise


def xyxy_to_z(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def z_to_xyxy(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


class BoxMotion:
    """Kalman filter of one person's box. `predict()` once per frame, `update(box)` when seen."""

    def __init__(self, box: np.ndarray) -> None:
        z = xyxy_to_z(box)
        self.kf = KalmanFilter(dim_x=8, dim_z=4)
        self.kf.F = np.eye(8)
        self.kf.F[:4, 4:] = np.eye(4)
        self.kf.H = np.eye(4, 8)
        self.kf.x[:4, 0] = z
        h = z[3]
        self.kf.P = np.diag(np.r_[np.full(4, (2 * POS_STD * h) ** 2), np.full(4, (10 * VEL_STD * h) ** 2)])
        self.last_z = z
        self.missed = 0  # predictions since the last observation
        self._saved = (self.kf.x.copy(), self.kf.P.copy())

    def _noise(self, h: float) -> None:
        self.kf.Q = np.diag(np.r_[np.full(4, (POS_STD * h) ** 2), np.full(4, (VEL_STD * h) ** 2)])
        self.kf.R = np.eye(4) * (POS_STD * h) ** 2

    def predict(self) -> np.ndarray:
        """Advances one frame; returns the predicted box (xyxy)."""
        self._noise(max(self.kf.x[3, 0], 1.0))
        self.kf.x[2:4, 0] = np.maximum(self.kf.x[2:4, 0], 1.0)
        self.kf.predict()
        self.missed += 1
        return self.box

    def update(self, box: np.ndarray, noise: float = 1.0) -> None:
        """The observation of this frame (after `predict`), re-running a gap on virtual observations.
        `noise` scales the measurement std of this box (> 1: a less reliable box, e.g. partly hidden)."""
        z = xyxy_to_z(box)
        gap = self.missed
        if gap > 1:  # observation-centric re-update
            self.kf.x, self.kf.P = self._saved[0].copy(), self._saved[1].copy()
            for k in range(1, gap):
                self._noise(max(self.kf.x[3, 0], 1.0))
                self.kf.predict()
                self.kf.update(self.last_z + (z - self.last_z) * k / gap)
            self._noise(max(self.kf.x[3, 0], 1.0))
            self.kf.predict()
        self.kf.update(z, R=self.kf.R * noise ** 2)
        self.last_z, self.missed = z, 0
        self._saved = (self.kf.x.copy(), self.kf.P.copy())

    @property
    def box(self) -> np.ndarray:
        return z_to_xyxy(self.kf.x[:, 0])

    @property
    def last_box(self) -> np.ndarray:
        return z_to_xyxy(self.last_z)
