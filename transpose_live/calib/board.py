"""Calibration from a checkerboard with OpenCV (aniposelib is not used: it pulls opencv-contrib-python,
which replaces the opencv-python the project runs on, plus jax and numba).

- Intrinsics per camera (`calibrate_intrinsics`): the board's inner corners are found in each image or
  sampled video frame (`board_views`; found on a copy scaled to <= 1000 px, refined to sub-pixel on the
  full image), then `cv2.calibrateCamera` (k1, k2, p1, p2, k3). Error: RMS reprojection in px.
- Extrinsics (`calibrate_extrinsics`): one image (or video) per camera of the same board at the same moment;
  `cv2.solvePnP` per camera. The world is the board: origin at the inner corner next to the dark corner
  square (a board with an odd and an even number of squares has one such end, so every camera numbers the
  corners alike), x along the row of COLS corners, y along the columns, z = x cross y pointing out of the
  printed side (towards the cameras), in metres: a board lying on the floor gives z up, as the TRC
  writer assumes. Error: mean reprojection in px.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from transpose_live.calib.camera import Camera
from transpose_live.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
DETECT_SIDE = 1000  # px: corners are searched on a copy this size
MAX_VIDEO_FRAMES = 40


@dataclass(frozen=True)
class Board:
    columns: int  # inner corners per row
    rows: int  # inner corners per column
    square: float  # metres

    @property
    def pattern(self) -> tuple[int, int]:
        return self.columns, self.rows

    def points(self) -> np.ndarray:
        """(N, 3) corner positions on the board (z = 0), metres, in OpenCV's corner order."""
        grid = np.mgrid[0:self.columns, 0:self.rows].T.reshape(-1, 2)
        return np.hstack([grid * self.square, np.zeros((len(grid), 1))]).astype(np.float32)


def parse_board(text: str, square_mm: float) -> Board:
    """'4x7' (inner corners) and the square side in mm -> Board."""
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--board {text!r}: give the inner corners as COLSxROWS, e.g. 4x7") from None
    if cols < 2 or rows < 2 or square_mm <= 0:
        raise UserError("--board needs at least 2x2 inner corners and --square > 0 mm")
    return Board(cols, rows, square_mm / 1000.0)


def find_corners(image: np.ndarray, board: Board) -> np.ndarray | None:
    """(N, 2) sub-pixel inner corners of the board in a BGR or grey image, None when not found."""
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    ok, corners = cv2.findChessboardCorners(small, board.pattern, flags=flags)
    if not ok:
        return None
    corners = (corners / scale).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.01)
    corners = cv2.cornerSubPix(grey, corners, (11, 11), (-1, -1), criteria).reshape(-1, 2)
    return _dark_first(grey, corners, board)


def _dark_first(grey: np.ndarray, corners: np.ndarray, board: Board) -> np.ndarray:
    """OpenCV numbers the corners from any end of the board, mirrored or not. Of the four numberings,
    keep the ones where x (along a row) cross y (down the columns) points at the camera (the printed side
    faces it: in the image, x_img cross y_img < 0), then the one whose first corner has the dark square
    diagonally outside it (with an odd and an even number of squares only one end does)."""
    h, w = grey.shape
    grid = corners.reshape(board.rows, board.columns, 2)
    options = [grid, grid[::-1, ::-1], grid[:, ::-1], grid[::-1, :]]

    def facing(g: np.ndarray) -> bool:
        x, y = g[0, 1] - g[0, 0], g[1, 0] - g[0, 0]
        return x[0] * y[1] - x[1] * y[0] < 0

    def shade(g: np.ndarray) -> float:
        px, py = np.round(g[0, 0] - 0.5 * (g[1, 1] - g[0, 0])).astype(int)
        return float(grey[min(max(py, 0), h - 1), min(max(px, 0), w - 1)])

    best = min((g for g in options if facing(g)), key=shade)
    return np.ascontiguousarray(best.reshape(-1, 2))


def read_views(path: str | Path) -> list[np.ndarray]:
    """The images of a folder (sorted), one image, or up to MAX_VIDEO_FRAMES frames spread over a video."""
    from transpose_live.images import read_image

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return [read_image(p) for p in files]
    if not path.is_file():
        raise UserError(f"{path} does not exist; give a folder of board images, an image or a video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [read_image(path)]
    from transpose_live.media import VideoDecoder

    frames = [f.image for f in VideoDecoder(path).frames()]
    step = max(1, len(frames) // MAX_VIDEO_FRAMES)
    return frames[::step][:MAX_VIDEO_FRAMES]


@dataclass
class Intrinsics:
    size: tuple[int, int]
    matrix: np.ndarray
    distortion: np.ndarray
    error: float  # RMS reprojection, px
    views: int  # images where the board was found


def calibrate_intrinsics(images: list[np.ndarray], board: Board, what: str = "camera") -> Intrinsics:
    """Intrinsics from views of the board (at least 3 with the board found)."""
    found = [c for c in (find_corners(im, board) for im in images) if c is not None]
    if len(found) < 3:
        raise UserError(f"{what}: the {board.columns}x{board.rows} board was found in {len(found)} of "
                        f"{len(images)} images; at least 3 are needed (check --board: inner corners)")
    h, w = images[0].shape[:2]
    obj = [board.points()] * len(found)
    rms, k, dist, _, _ = cv2.calibrateCamera(obj, [c[:, None] for c in found], (w, h), None, None)
    return Intrinsics((w, h), k, dist.ravel()[:5], float(rms), len(found))


def calibrate_extrinsics(camera: Camera, image: np.ndarray, board: Board) -> tuple[Camera, float]:
    """The camera placed by the board in one image (the world = the board); returns it with the mean
    reprojection error of the corners in px."""
    corners = find_corners(image, board)
    if corners is None:
        raise UserError(f"{camera.name}: the {board.columns}x{board.rows} board is not visible in the "
                        "extrinsics image; every camera must see the whole board")
    ok, rvec, tvec = cv2.solvePnP(board.points(), corners, camera.matrix, camera.distortion)
    if not ok:
        raise UserError(f"{camera.name}: cannot place the camera from the board")
    placed = Camera(camera.name, camera.size, camera.matrix, camera.distortion, rvec.ravel(), tvec.ravel())
    error = float(np.linalg.norm(placed.project(board.points()) - corners, axis=1).mean())
    return placed, error
