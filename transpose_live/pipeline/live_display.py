"""The `--show` window of a run, one for 1..N sources: every source's newest rendered frame, tiled in a
grid and scaled (aspect kept, letterboxed) to fit the screen, so portrait cameras are shown whole.

Output threads `offer` images; the calling thread calls `show()` (OpenCV windows belong to one
thread), which returns True when q or Esc was pressed."""

from __future__ import annotations

import contextlib
import math
import os

import cv2
import numpy as np

WINDOW = "transpose-live"
DEFAULT_SCREEN = (1600, 900)


def screen_size() -> tuple[int, int]:
    """The area the window may fill: $TRANSPOSE_LIVE_SCREEN (WxH), else 1600x900."""
    text = os.environ.get("TRANSPOSE_LIVE_SCREEN", "")
    with contextlib.suppress(ValueError):
        w, h = (int(v) for v in text.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    return DEFAULT_SCREEN


def grid(n: int) -> tuple[int, int]:
    """(columns, rows) for n tiles: as square as possible, wider than tall."""
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def fit(image: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit inside `box` (w, h), aspect kept, centred on black."""
    bw, bh = box
    h, w = image.shape[:2]
    scale = min(bw / w, bh / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.zeros((bh, bw, 3), np.uint8)
    x, y = (bw - nw) // 2, (bh - nh) // 2
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out


def tile(images: list, screen: tuple[int, int]) -> np.ndarray:
    """The grid of `images` (None: a black tile) filling at most `screen`; one image is just fitted."""
    present = [im for im in images if im is not None]
    if len(images) == 1:
        h, w = present[0].shape[:2]
        scale = min(1.0, screen[0] / w, screen[1] / h)
        return fit(present[0], (max(1, round(w * scale)), max(1, round(h * scale))))
    cols, rows = grid(len(images))
    cell = (screen[0] // cols, screen[1] // rows)
    canvas = np.zeros((cell[1] * rows, cell[0] * cols, 3), np.uint8)
    for i, image in enumerate(images):
        if image is not None:
            r, c = divmod(i, cols)
            canvas[r * cell[1]:(r + 1) * cell[1], c * cell[0]:(c + 1) * cell[0]] = fit(image, cell)
    return canvas


class Window:
    """One window for `n` sources (one source: its frame, scaled down to fit the screen)."""

    def __init__(self, n: int, screen: tuple[int, int] | None = None) -> None:
        self.latest: list = [None] * n
        self.changed = False
        self.screen = screen or screen_size()
        self._opened = False

    def offer(self, index: int, image: np.ndarray) -> None:
        """Source `index`'s newest rendered frame (from its output thread)."""
        self.latest[index] = image
        self.changed = True

    def show(self) -> bool:
        if not self.changed or all(im is None for im in self.latest):
            return False
        self.changed = False
        if not self._opened:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
            self._opened = True
        cv2.imshow(WINDOW, tile(list(self.latest), self.screen))
        return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            cv2.destroyAllWindows()
