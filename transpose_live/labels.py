"""Where text labels go on a frame: boxes placed so that none covers another (track labels, the HUD's
corner, the `--exercise` counts and angles drawn after them). Used by `pipeline.render` and by
`analytics.live`, which never import each other."""

from __future__ import annotations

import cv2

from transpose_live.poses import Poses


class LabelPlacer:
    """Places text boxes so that none covers another: a box goes where it was asked, else the nearest
    free spot above or below it (steps of its height), kept inside the image. Used for the track labels
    (`track_labels`) and by overlays drawn after them (the `--exercise` counts and angles), which
    `reserve` the track labels first."""

    def __init__(self, shape) -> None:
        self.height, self.width = int(shape[0]), int(shape[1])
        self.taken: list[tuple[int, int, int, int]] = []

    def reserve(self, rect) -> None:
        self.taken.append(tuple(int(v) for v in rect))

    def _free(self, rect) -> bool:
        x1, y1, x2, y2 = rect
        return all(x2 <= a or x1 >= c or y2 <= b or y1 >= d for a, b, c, d in self.taken)

    def place(self, rect, steps: int = 12) -> tuple[int, int, int, int]:
        """The free spot (x1, y1, x2, y2) nearest `rect` (same size), reserved; `rect` itself when none."""
        x1, y1, x2, y2 = (int(v) for v in rect)
        w, h = x2 - x1, y2 - y1
        x1 = min(max(x1, 0), max(self.width - w, 0))
        y1 = min(max(y1, 0), max(self.height - h, 0))  # first kept inside the frame, as labels always were
        step = h + 2
        for k in range(steps + 1):
            for dy in ((0,) if k == 0 else (-k * step, k * step)):
                top = y1 + dy
                if top < 0 or top + h > self.height:
                    continue
                spot = (x1, top, x1 + w, top + h)
                if self._free(spot):
                    self.reserve(spot)
                    return spot
        spot = (x1, y1, x1 + w, y1 + h)
        self.reserve(spot)
        return spot


def text_box(text: str, scale: float, thick: int) -> tuple[int, int, int]:
    """(width, height, baseline) of a label's filled box for `text`."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    return tw + 4, th + base + 2, base


def hud_box(shape, lines: list[str] | None = None) -> tuple[int, int, int, int]:
    """The HUD's dark box (x1, y1, x2, y2) at the top left for `lines` (default: the widest live HUD)."""
    lw = max(1, int(round(min(shape[:2]) / 240)))
    lines = lines or ["999.9 FPS  capture>draw 9999 ms", "99 persons"]
    scale = 0.45 * lw
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, lw)
    width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, lw)[0][0] for t in lines)
    return 0, 0, width + 8 * lw, (th + base + 4 * lw) * len(lines) + 4 * lw


def track_labels(shape, poses: Poses, placer: LabelPlacer | None = None, hud: bool = False) -> list[tuple[str, tuple]]:
    """[(text, box)]: each person's "#id score" label above its box corner, placed by `placer` (a new
    one by default) so labels of people close together (and the HUD's corner, `hud`) do not overlap.
    Deterministic: an overlay calls it again to learn where the labels are."""
    placer = placer or LabelPlacer(shape)
    if hud:
        placer.reserve(hud_box(shape))
    lw = max(1, int(round(min(shape[:2]) / 240)))
    out = []
    for i in range(len(poses)):
        tid = int(poses.track_ids[i])
        text = (f"#{tid} " if tid >= 0 else "") + f"{poses.box_scores[i]:.2f}"
        w, h, _ = text_box(text, 0.4 * lw, max(1, lw // 2))
        x1, y1 = int(round(poses.boxes[i][0])), int(round(poses.boxes[i][1]))
        out.append((text, placer.place((x1, y1 - h, x1 + w, y1))))
    return out
