"""One calibrated camera and a set of them, in OpenCV's conventions.

A `Camera` maps world points (metres) to pixels: x_cam = R @ X + t (camera axes x right, y down,
z forward), then OpenCV's pinhole model with distortion (k1, k2, p1, p2[, k3]) and the matrix K.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from transpose_live.errors import UserError


@dataclass
class Camera:
    name: str
    size: tuple[int, int]  # image width, height in pixels
    matrix: np.ndarray  # (3, 3) K
    distortion: np.ndarray  # (4,) or (5,) k1 k2 p1 p2 [k3]
    rotation: np.ndarray  # (3, 3) world -> camera
    translation: np.ndarray  # (3,) metres

    def __post_init__(self) -> None:
        self.matrix = np.asarray(self.matrix, np.float64).reshape(3, 3)
        self.distortion = np.asarray(self.distortion, np.float64).ravel()
        r = np.asarray(self.rotation, np.float64)
        self.rotation = cv2.Rodrigues(r.reshape(3, 1))[0] if r.size == 3 else r.reshape(3, 3)
        self.translation = np.asarray(self.translation, np.float64).reshape(3)
        self.size = (int(self.size[0]), int(self.size[1]))

    @property
    def rvec(self) -> np.ndarray:
        return cv2.Rodrigues(self.rotation)[0].ravel()

    @property
    def position(self) -> np.ndarray:
        """The camera centre in world coordinates (metres)."""
        return -self.rotation.T @ self.translation

    @property
    def extrinsic(self) -> np.ndarray:
        """(3, 4) [R | t]: world -> camera (the projection matrix of undistorted normalised points)."""
        return np.hstack([self.rotation, self.translation[:, None]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) distorted pixels (NaN in, NaN out)."""
        pts = np.asarray(points, np.float64)
        flat = pts.reshape(-1, 3)
        ok = np.isfinite(flat).all(axis=1)
        out = np.full((len(flat), 2), np.nan)
        if ok.any():
            uv, _ = cv2.projectPoints(flat[ok], self.rvec, self.translation, self.matrix, self.distortion)
            out[ok] = uv.reshape(-1, 2)
        return out.reshape(pts.shape[:-1] + (2,))

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) distorted pixels -> (..., 2) undistorted normalised coordinates (x/z, y/z)."""
        px = np.asarray(pixels, np.float64)
        flat = px.reshape(-1, 1, 2)
        ok = np.isfinite(flat).all(axis=(1, 2))
        out = np.full((len(flat), 2), np.nan)
        if ok.any():
            out[ok] = cv2.undistortPoints(flat[ok], self.matrix, self.distortion).reshape(-1, 2)
        return out.reshape(px.shape[:-1] + (2,))

    @property
    def focal(self) -> float:
        """Mean focal length in pixels."""
        return float((self.matrix[0, 0] + self.matrix[1, 1]) / 2)


@dataclass
class Calibration:
    """Cameras in file order; `errors`: reprojection error per camera (px) when it was measured."""

    cameras: list[Camera]
    errors: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> Camera:
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(name)

    def replace(self, camera: Camera) -> None:
        """Puts `camera` in place of the camera of the same name."""
        self.cameras = [camera if c.name == camera.name else c for c in self.cameras]


SIZE_TOLERANCE = 0.01  # relative: a frame this close to the calibrated size (e.g. 1080 vs 1088 px) is taken as is


def fit_to_size(camera: Camera, size: tuple[int, int]) -> tuple[Camera, str | None]:
    """`camera` for frames of `size` (w, h): the same camera when the size is the calibrated one (within 1 %),
    else its intrinsics (fx, fy, cx, cy) scaled, with a line saying so; the scale is that of the axis that
    changed most (the other cropped by under 1 %). A different aspect ratio is a UserError: the frames are
    cropped in a way the calibration cannot tell."""
    (w, h), (cw, ch) = (int(size[0]), int(size[1])), camera.size
    sx, sy = w / cw, h / ch
    if abs(sx - sy) > SIZE_TOLERANCE * max(sx, sy):
        raise UserError(f"camera {camera.name}: frames of {w}x{h} do not have the aspect ratio of its calibration "
                        f"({cw}x{ch}); calibrate at this size (a crop cannot be undone)")
    scale = max(sx, sy)
    if abs(scale - 1) <= SIZE_TOLERANCE:
        return camera, None
    matrix = camera.matrix.copy()
    matrix[:2] *= scale
    fitted = Camera(camera.name, (w, h), matrix, camera.distortion, camera.rotation, camera.translation)
    return fitted, (f"camera {camera.name}: frames of {w}x{h}, calibrated at {cw}x{ch}: intrinsics scaled by "
                    f"{scale:.4g}")


def fit_calibration(calib: Calibration, size: tuple[int, int]) -> list[str]:
    """Every camera of `calib` fitted to frames of `size` (w, h) in place (`fit_to_size`); the notes."""
    notes = []
    for camera in list(calib.cameras):
        fitted, note = fit_to_size(camera, size)
        if note is not None:
            calib.replace(fitted)
            notes.append(note)
    return notes


def parse_size(text: str, option: str = "--image-size") -> tuple[int, int]:
    """"WxH" -> (w, h); UserError when malformed."""
    w, sep, h = str(text).lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit() or int(w) < 1 or int(h) < 1:
        raise UserError(f"{option} {text!r}: give WIDTHxHEIGHT in pixels, e.g. 540x960")
    return int(w), int(h)
