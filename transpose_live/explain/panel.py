"""Panel layout: per person, the crop with its skeleton then one attention tile per keypoint.

Tiles are the model-input size (256x192) under a title strip, `max_cols` per row; people are
stacked; a colour bar legend closes the image.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from transpose_live.explain.crops import person_crop, to_crop
from transpose_live.explain.heat import colour_bar, heat_overlay
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.poses import Poses

TITLE_H = 20
GAP = 4
LEGEND_H = 40
MAX_COLS = 6
BACKGROUND = (255, 255, 255)


def panel_grid(n_keypoints: int, max_cols: int = MAX_COLS) -> tuple[int, int]:
    """(rows, cols) of tiles for one person: the crop plus n_keypoints maps."""
    tiles = 1 + n_keypoints
    cols = max(1, min(tiles, max_cols))
    return math.ceil(tiles / cols), cols


def panel_size(n_people: int, n_keypoints: int, input_size: tuple[int, int] = (256, 192),
               max_cols: int = MAX_COLS) -> tuple[int, int]:
    """(height, width) in pixels of the whole panel image."""
    rows, cols = panel_grid(n_keypoints, max_cols)
    tile_h, tile_w = input_size[0] + TITLE_H, input_size[1]
    width = cols * tile_w + (cols + 1) * GAP
    height = GAP + n_people * rows * (tile_h + GAP) + LEGEND_H
    return height, width


def render_panels(image: np.ndarray, poses: Poses, keypoints: list[int], threshold: float = 0.0,
                  input_size: tuple[int, int] = (256, 192), max_cols: int = MAX_COLS,
                  caption: str | None = None, keypoint_set: KeypointSet = COCO17) -> np.ndarray:
    """The panel image (BGR uint8) for every person of `poses` (which must carry attention);
    `keypoints` are indices into `keypoint_set` (the model's: names and skeleton)."""
    from transpose_live.pipeline.render import draw_poses

    if poses.attention is None:
        raise ValueError("poses carry no attention maps; estimate with return_attention=True")
    height, width = panel_size(len(poses), len(keypoints), input_size, max_cols)
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    rows, cols = panel_grid(len(keypoints), max_cols)
    tile_h, tile_w = input_size[0] + TITLE_H, input_size[1]
    for i in range(len(poses)):
        crop, m = person_crop(image, poses.boxes[i], input_size)
        kpts = poses.keypoints[i].astype(np.float64).copy()
        kpts[:, :2] = to_crop(kpts[:, :2], m)
        skeleton = draw_poses(crop.copy(), Poses(keypoints=kpts[None], boxes=np.zeros((1, 4)),
                                                 box_scores=np.ones(1)), kpt_thr=-np.inf, boxes=False,
                              keypoints=keypoint_set)
        tiles = [(f"person {i + 1}  box {poses.box_scores[i]:.2f}", skeleton)]
        for j in keypoints:
            tile, vmax = heat_overlay(crop, poses.attention[i, j], threshold)
            _mark(tile, kpts[j, :2])
            tiles.append((f"{keypoint_set.names[j]}  max {vmax:.2g}", tile))
        top = GAP + i * rows * (tile_h + GAP)
        for k, (title, tile) in enumerate(tiles):
            r, c = divmod(k, cols)
            y, x = top + r * (tile_h + GAP), GAP + c * (tile_w + GAP)
            _title(canvas, title, x, y, tile_w)
            canvas[y + TITLE_H:y + tile_h, x:x + tile_w] = tile
    legend = caption or "attention of the keypoint's token (each map from its min to its max)"
    if threshold > 0:
        legend += f"; hidden below {threshold:g}"
    canvas[height - LEGEND_H:] = colour_bar(width, LEGEND_H, legend)
    return canvas


def _mark(tile: np.ndarray, xy) -> None:
    x, y = (int(round(v)) for v in xy)
    cv2.drawMarker(tile, (x, y), (0, 0, 0), cv2.MARKER_CROSS, 14, 3, cv2.LINE_AA)
    cv2.drawMarker(tile, (x, y), (255, 255, 255), cv2.MARKER_CROSS, 12, 1, cv2.LINE_AA)
    cv2.circle(tile, (x, y), 5, (255, 255, 255), 1, cv2.LINE_AA)


def _title(canvas: np.ndarray, text: str, x: int, y: int, width: int) -> None:
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    while scale > 0.25 and cv2.getTextSize(text, font, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    cv2.putText(canvas, text, (x + 2, y + TITLE_H - 6), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
