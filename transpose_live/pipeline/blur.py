"""`--blur faces|people|none`: privacy for rendered and served frames (docs/privacy.md).

faces:  each person's face is pixelated. It is placed from the head keypoints above the threshold
        (nose, eyes, ears; `head_top` / `upper_neck` for MPII-style sets): a square around them,
        sized by their spread and the shoulder width; a person with none visible gets the top of
        the person box (the head is there for anyone upright, seen from the back too).
people: each person's box is pixelated; the skeleton is drawn afterwards, so it stays sharp.
none:   nothing is hidden.
auto:   (the default) faces when `--serve` is reachable beyond loopback, else none.

`render.render_frame` applies it to its copy before drawing, so every written, shown or served
frame of a run with --blur is blurred; the input files are never touched.

    >>> blur_frame(image, poses, "faces", COCO17, kpt_thr=0.3)   # in place
"""

from __future__ import annotations

import cv2
import numpy as np

from transpose_live.errors import UserError

MODES = ("auto", "faces", "people", "none")
HEAD = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "head_top", "upper_neck")
SHOULDERS = ("left_shoulder", "right_shoulder")
BLOCKS = 8  # a face or a person is pixelated into about this many blocks across


def check_mode(mode: str) -> str:
    mode = str(mode or "auto").strip().lower()
    if mode not in MODES:
        raise UserError(f"unknown --blur {mode!r}; use faces, people or none")
    return mode


def blur_mode(cfg) -> str:
    """The mode a RunConfig asks for, `auto` resolved: faces when --serve binds beyond loopback."""
    mode = check_mode(cfg.blur)
    if mode != "auto":
        return mode
    if cfg.serve:
        from transpose_live.pipeline.web_app import is_loopback, parse_bind

        return "none" if is_loopback(parse_bind(cfg.serve)[0]) else "faces"
    return "none"


def face_boxes(poses, names, kpt_thr: float) -> np.ndarray:
    """(N, 4) xyxy face box per person: from the head keypoints scoring above `kpt_thr`, else the top
    of the person box. `names`: the keypoint names (the model's set)."""
    head = [j for j, n in enumerate(names) if n in HEAD]
    shoulders = [j for j, n in enumerate(names) if n in SHOULDERS]
    out = np.zeros((len(poses), 4), np.float32)
    for i in range(len(poses)):
        kpts, (x1, y1, x2, y2) = poses.keypoints[i], poses.boxes[i]
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        seen = [j for j in head if kpts[j, 2] > kpt_thr]
        if not seen:  # the top of the box: head about a third of the box width, as tall as wide
            side = min(0.5 * bw, 0.35 * bh)
            cx, cy = (x1 + x2) / 2, y1 + side / 2
            out[i] = (cx - 0.75 * side, y1, cx + 0.75 * side, y1 + side * 1.1)
            continue
        pts = kpts[seen, :2]
        spread = float(np.max(pts.max(0) - pts.min(0))) if len(seen) > 1 else 0.0
        shoulder = [j for j in shoulders if kpts[j, 2] > kpt_thr]
        width = float(abs(kpts[shoulder[0], 0] - kpts[shoulder[1], 0])) if len(shoulder) == 2 else 0.0
        side = max(2.2 * spread, 0.7 * width, 0.12 * max(bw, bh), 6.0)
        cx, cy = pts.mean(0)
        out[i] = (cx - side / 2, cy - 0.6 * side, cx + side / 2, cy + 0.75 * side)  # down to the chin
    return out


def pixelate(image: np.ndarray, box, blocks: int = BLOCKS) -> None:
    """Replaces `box` (xyxy, clipped to the image) by a mosaic of about `blocks` blocks across,
    smoothed so no block keeps an edge of the original. In place."""
    H, W = image.shape[:2]
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), W), min(int(np.ceil(box[3])), H)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    roi = image[y1:y2, x1:x2]
    w, h = x2 - x1, y2 - y1
    bx = max(1, min(blocks, w // 2))
    by = max(1, round(bx * h / w))
    small = cv2.resize(roi, (bx, by), interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    k = max(3, (min(w, h) // max(bx, 1)) | 1)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(mosaic, (k, k), 0)


def blur_frame(image: np.ndarray, poses, mode: str, keypoints=None, kpt_thr: float = 0.3) -> np.ndarray:
    """Hides faces (`faces`) or whole people (`people`) of `poses` in `image` (BGR uint8, in place);
    `none`/`auto` leave it. `keypoints`: the model's KeypointSet (COCO-17 by default). Returns it."""
    if mode in ("none", "auto") or poses is None or not len(poses):
        return image
    if mode == "people":
        for box in poses.boxes:
            pixelate(image, box, blocks=2 * BLOCKS)
        return image
    from transpose_live.keypoints import COCO17

    names = keypoints.names if keypoints is not None and len(keypoints) == poses.keypoints.shape[1] else COCO17.names
    for box in face_boxes(poses, names, kpt_thr):
        pixelate(image, box)
    return image
