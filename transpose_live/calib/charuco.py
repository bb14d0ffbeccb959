"""Intrinsics from a ChArUco board (a checkerboard with ArUco markers in its white squares) with OpenCV's
`cv2.aruco` (in opencv-python): every chessboard corner found is identified by the markers around it, so a
board seen partly (cut by the image edge, partly hidden) still counts, unlike a plain checkerboard.

A board is given by its squares (COLSxROWS, squares not inner corners), the square and marker sides (mm)
and the ArUco dictionary (`4X4_50`, `5X5_100`, ..., or the `DICT_...` name): what the board generator used.
`calibrate_charuco` runs `cv2.calibrateCamera` on the corners of each view where at least 6 were found.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from transpose_live.calib.board import Intrinsics
from transpose_live.errors import UserError

MIN_CORNERS = 6  # per view: fewer do not constrain a view's pose (and calibrateCamera needs >= 4, not collinear)


@dataclass(frozen=True)
class Charuco:
    columns: int  # squares per row
    rows: int  # squares per column
    square: float  # metres
    marker: float  # metres
    dictionary: str  # cv2.aruco name, e.g. DICT_4X4_50

    def board(self):
        """The `cv2.aruco.CharucoBoard`."""
        aruco = cv2.aruco
        return aruco.CharucoBoard((self.columns, self.rows), self.square, self.marker,
                                  aruco.getPredefinedDictionary(getattr(aruco, self.dictionary)))

    def image(self, square_px: int = 100) -> np.ndarray:
        """The board drawn (grey, no margin), `square_px` pixels per square: to print, or for tests."""
        return self.board().generateImage((self.columns * square_px, self.rows * square_px), marginSize=0)


def parse_charuco(text: str, square_mm: float, marker_mm: float | None, dictionary: str) -> Charuco:
    """'5x7' (squares), the square and marker sides in mm (marker: default 3/4 of the square), the
    dictionary name -> Charuco; UserError when malformed."""
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--charuco {text!r}: give the squares as COLSxROWS, e.g. 5x7") from None
    marker_mm = 0.75 * square_mm if marker_mm is None else marker_mm
    if cols < 3 or rows < 3 or square_mm <= 0 or not 0 < marker_mm < square_mm:
        raise UserError("--charuco needs at least 3x3 squares, --square > 0 mm and 0 < --marker < --square")
    name = dictionary.strip().upper()
    name = name if name.startswith("DICT_") else f"DICT_{name}"
    if not name.startswith("DICT_") or not isinstance(getattr(cv2.aruco, name, None), int):
        raise UserError(f"--dictionary {dictionary!r}: not an ArUco dictionary; e.g. 4X4_50, 5X5_100, 6X6_250")
    return Charuco(cols, rows, square_mm / 1000.0, marker_mm / 1000.0, name)


def find_charuco(image: np.ndarray, spec: Charuco, board=None) -> tuple[np.ndarray, np.ndarray] | None:
    """(object points (N, 3) m, image points (N, 2) px) of the board's corners found in a view, None when
    fewer than MIN_CORNERS."""
    board = board or spec.board()
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(grey)
    if ids is None or len(ids) < MIN_CORNERS:
        return None
    obj, img = board.matchImagePoints(corners, ids)
    return obj.reshape(-1, 3).astype(np.float32), img.reshape(-1, 2).astype(np.float32)


def calibrate_charuco(images: list[np.ndarray], spec: Charuco, what: str = "camera") -> Intrinsics:
    """Intrinsics from views of the ChArUco board (at least 3 views with >= MIN_CORNERS corners)."""
    board = spec.board()
    found = [f for f in (find_charuco(im, spec, board) for im in images) if f is not None]
    if len(found) < 3:
        raise UserError(f"{what}: the {spec.columns}x{spec.rows} ChArUco board ({spec.dictionary}) was found in "
                        f"{len(found)} of {len(images)} images; at least 3 are needed (check --charuco: squares, "
                        "--dictionary)")
    h, w = images[0].shape[:2]
    rms, k, dist, _, _ = cv2.calibrateCamera([o for o, _ in found], [i[:, None] for _, i in found], (w, h), None, None)
    return Intrinsics((w, h), k, dist.ravel()[:5], float(rms), len(found))
