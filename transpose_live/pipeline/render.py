"""Overlay renderer: the model's skeleton (COCO's, or a trained keypoint set's; left / right / centre
limbs in different colours, sides read from the keypoint names), keypoints
above a threshold, person boxes with score and track id, attention heat, FPS / latency HUD.
Line widths and text scale with the frame size.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from transpose_live.config import RunConfig
from transpose_live.engine.boxes import crop_regions
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.labels import LabelPlacer, hud_box, text_box, track_labels  # noqa: F401 - re-exported
from transpose_live.pipeline.blur import blur_frame
from transpose_live.poses import Poses

# BGR colours.
LEFT = (0, 140, 255)     # orange
RIGHT = (255, 160, 0)    # blue
CENTRE = (80, 220, 80)   # green
BOX = (230, 230, 230)
HUD_BG = (0, 0, 0)



SIDE_COLOURS = {-1: LEFT, 1: RIGHT, 0: CENTRE}


def limb_colour(a: int, b: int, keypoints: KeypointSet = COCO17) -> tuple[int, int, int]:
    return _limb_colour(keypoints.sides(), a, b)


def _limb_colour(sides, a: int, b: int) -> tuple[int, int, int]:
    """A limb between two joints of the same side takes that side's colour, others are centre-green."""
    return SIDE_COLOURS[sides[a]] if sides[a] == sides[b] else CENTRE


def keypoint_set_for(poses: Poses, keypoints: KeypointSet | None) -> KeypointSet | None:
    """The set to draw `poses` with: the one given, COCO-17 for 17 keypoints, else None (points only)."""
    if keypoints is not None and len(keypoints) == poses.keypoints.shape[1]:
        return keypoints
    return COCO17 if poses.keypoints.shape[1] == len(COCO17) else None


def line_width(image: np.ndarray) -> int:
    """About 2 px at 640x480, growing with the frame."""
    return max(1, int(round(min(image.shape[:2]) / 240)))


def draw_poses(image: np.ndarray, poses: Poses, kpt_thr: float = RunConfig.kpt_thr, boxes: bool = True,
               keypoints: KeypointSet | None = None, hud: bool = False) -> np.ndarray:
    """Draws skeletons, keypoints and boxes in place on a BGR uint8 image; returns it.

    keypoints: the model's keypoint set (skeleton, sides); default COCO-17. hud: a HUD will be drawn
    (the labels keep clear of its corner)."""
    kset = keypoint_set_for(poses, keypoints)
    skeleton = kset.skeleton if kset is not None else ()
    sides = kset.sides() if kset is not None else (0,) * poses.keypoints.shape[1]
    lw = line_width(image)
    radius = max(2, lw + 1)
    labels = track_labels(image.shape, poses, hud=hud) if boxes else []
    for i in range(len(poses)):
        kpts = poses.keypoints[i]
        if boxes:
            x1, y1, x2, y2 = (int(round(v)) for v in poses.boxes[i])
            cv2.rectangle(image, (x1, y1), (x2, y2), BOX, max(1, lw // 2), cv2.LINE_AA)
        ok = kpts[:, 2] > kpt_thr
        for a, b in skeleton:
            if ok[a] and ok[b]:
                pa = tuple(int(round(v)) for v in kpts[a, :2])
                pb = tuple(int(round(v)) for v in kpts[b, :2])
                cv2.line(image, pa, pb, _limb_colour(sides, a, b), lw, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            p = tuple(int(round(v)) for v in kpts[j, :2])
            colour = SIDE_COLOURS[sides[int(j)]]
            cv2.circle(image, p, radius, colour, -1, cv2.LINE_AA)
            cv2.circle(image, p, radius, (255, 255, 255), 1, cv2.LINE_AA)
    for text, rect in labels:  # on top of every skeleton
        _label(image, text, rect, 0.4 * lw, lw)
    return image


def draw_attention(image: np.ndarray, poses: Poses, keypoint: int, alpha: float = 0.6) -> np.ndarray:
    """Blends, per person, keypoint `keypoint`'s attention map (Poses.attention) over the region
    its crop covered; stronger attention is more opaque. In place; returns the image."""
    if poses.attention is None or not len(poses):
        return image
    H, W = image.shape[:2]
    regions = crop_regions(poses.boxes)
    for i in range(len(poses)):
        att = np.asarray(poses.attention[i, keypoint], np.float32)
        rx1, ry1, rx2, ry2 = (float(v) for v in regions[i])
        rw, rh = int(round(rx2 - rx1)), int(round(ry2 - ry1))
        if rw < 2 or rh < 2:
            continue
        lo, hi = float(att.min()), float(att.max())
        norm = (att - lo) / (hi - lo) if hi > lo else np.zeros_like(att)
        heat = cv2.resize(norm, (rw, rh), interpolation=cv2.INTER_LINEAR)
        ox, oy = int(round(rx1)), int(round(ry1))
        fx1, fy1, fx2, fy2 = max(ox, 0), max(oy, 0), min(ox + rw, W), min(oy + rh, H)
        if fx2 <= fx1 or fy2 <= fy1:
            continue
        part = heat[fy1 - oy:fy2 - oy, fx1 - ox:fx2 - ox]
        colour = cv2.applyColorMap((part * 255).astype(np.uint8), cv2.COLORMAP_JET).astype(np.float32)
        a = (alpha * part)[..., None]
        roi = image[fy1:fy2, fx1:fx2].astype(np.float32)
        image[fy1:fy2, fx1:fx2] = (roi * (1 - a) + colour * a).astype(np.uint8)
    return image


def draw_hud(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Text lines (e.g. FPS, latency, persons) in a dark box at the top left. In place."""
    lw = line_width(image)
    scale = 0.45 * lw
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, lw)
    step = th + base + 4 * lw
    _, _, x2, y2 = hud_box(image.shape, lines) if lines else (0, 0, 0, 0)
    overlay = image[:y2, :x2]
    overlay[:] = (overlay * 0.45).astype(np.uint8)
    for k, text in enumerate(lines):
        y = (k + 1) * step
        cv2.putText(image, text, (4 * lw, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), lw, cv2.LINE_AA)
    return image


def _label(image: np.ndarray, text: str, rect, scale: float, lw: int) -> None:
    """A track label: black text on a light box filling `rect` (from `track_labels`)."""
    thick = max(1, lw // 2)
    x1, y1, x2, y2 = rect
    _, _, base = text_box(text, scale, thick)
    cv2.rectangle(image, (x1, y1), (x2, y2), BOX, -1)
    cv2.putText(image, text, (x1 + 2, y2 - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)


def render_frame(image: np.ndarray, poses: Poses, kpt_thr: float = RunConfig.kpt_thr, hud: list[str] | None = None,
                 attention_keypoint: int | None = None, attention_from: Poses | None = None,
                 keypoints: KeypointSet | None = None, blur: str = "none") -> np.ndarray:
    """A rendered copy of `image`: faces or people hidden (`blur`, pipeline/blur.py), attention (if
    asked), skeletons, boxes, HUD.

    attention_from: the poses holding the attention maps (the unsmoothed estimate), default `poses`.
    keypoints: the model's keypoint set (default COCO-17).
    """
    out = image.copy()
    if blur not in ("none", "auto"):
        blur_frame(out, poses, blur, keypoints, kpt_thr)
    if attention_keypoint is not None:
        draw_attention(out, attention_from if attention_from is not None else poses, attention_keypoint)
    draw_poses(out, poses, kpt_thr, keypoints=keypoints, hud=bool(hud))
    if hud:
        draw_hud(out, hud)
    return out


class Hud:
    """The live overlay's text: output frame rate (smoothed), latency from the frame's capture to its
    drawing ("capture>draw"), persons. The web view's footer shows its own, later span
    ("capture > web": until the poses reached the server), docs/live.md."""

    def __init__(self) -> None:
        self.fps = 0.0
        self._last: float | None = None

    def lines(self, frame, poses: Poses) -> list[str]:
        now = time.perf_counter()
        if self._last is not None:
            dt = max(now - self._last, 1e-6)
            self.fps = 1 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
        self._last = now
        latency_ms = 1000 * (now - frame.captured_at)
        n = len(poses)
        return [f"{self.fps:.1f} FPS  capture>draw {latency_ms:.0f} ms", f"{n} person{'s' * (n != 1)}"]
