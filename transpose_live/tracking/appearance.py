"""Appearance descriptors of people: colour histograms of three body parts (about 0.05 ms per person).

Each part (torso, hips and thighs, lower legs) is a band of the person: placed by the keypoints when the
shoulders, hips, knees and ankles are confident, else by fixed fractions of the box height (untrained pose
weights, people seen from far away). A part's pixels (the band's middle 60 % in width, resized to
`PATCH` x `PATCH`) are binned in HSV: saturated pixels by hue x saturation, grey ones by brightness. The
per-part histograms are square-rooted and scaled so the dot product of two descriptors is the mean
Bhattacharyya coefficient of their parts: 1 for the same colours, near 0 for different ones.
"""

from __future__ import annotations

import cv2
import numpy as np

BOX_PARTS = ((0.12, 0.45), (0.45, 0.70), (0.70, 0.97))  # fractions of the box height
WIDTH = (0.2, 0.8)  # middle of the box width: less background
HUE_BINS, SAT_BINS, GREY_BINS = 12, 2, 4
MIN_SAT = 60  # 0-255: below it a pixel counts as grey (hue is noise there)
PATCH = 16  # pixels per side a part is resized to before binning
KEYPOINT_SCORE = 0.5  # all part keypoints at least this confident: place parts by the keypoints
BINS = HUE_BINS * SAT_BINS + GREY_BINS
SIZE = BINS * len(BOX_PARTS)
# COCO-17 indices: shoulders, hips, knees, ankles
_SHOULDERS, _HIPS, _KNEES, _ANKLES = (5, 6), (11, 12), (13, 14), (15, 16)


def _bands_from_box(box: np.ndarray) -> list[tuple[float, float, float, float]]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, right = x1 + WIDTH[0] * w, x1 + WIDTH[1] * w
    return [(left, y1 + a * h, right, y1 + b * h) for a, b in BOX_PARTS]


def _bands_from_keypoints(kpts: np.ndarray, box: np.ndarray) -> list[tuple[float, float, float, float]] | None:
    """Torso (shoulders..hips), thighs (hips..knees), shins (knees..ankles), or None when a point is unsure."""
    if len(kpts) < 17:
        return None
    need = _SHOULDERS + _HIPS + _KNEES + _ANKLES
    if (kpts[list(need), 2] < KEYPOINT_SCORE).any():
        return None
    y = [float(kpts[list(p), 1].mean()) for p in (_SHOULDERS, _HIPS, _KNEES, _ANKLES)]
    if not y[0] < y[1] < y[2] < y[3]:  # not upright: the box fractions are as good
        return None
    x1, _, x2, _ = box
    w = x2 - x1
    left, right = x1 + WIDTH[0] * w, x1 + WIDTH[1] * w
    return [(left, y[0], right, y[1]), (left, y[1], right, y[2]), (left, y[2], right, y[3])]


def _part_histogram(image: np.ndarray, band) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in band)
    x1, x2 = max(0, x1), min(w, x2)
    y1, y2 = max(0, y1), min(h, y2)
    hist = np.zeros(BINS, np.float32)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return hist
    patch = cv2.resize(image[y1:y2, x1:x2], (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    grey = hsv[:, 1] < MIN_SAT
    hue = np.minimum(hsv[:, 0] * HUE_BINS // 180, HUE_BINS - 1)
    sat = np.minimum((hsv[:, 1] - MIN_SAT) * SAT_BINS // (256 - MIN_SAT), SAT_BINS - 1)
    val = np.minimum(hsv[:, 2] * GREY_BINS // 256, GREY_BINS - 1)
    index = np.where(grey, HUE_BINS * SAT_BINS + val, hue * SAT_BINS + sat)
    hist += np.bincount(index, minlength=BINS).astype(np.float32)
    return np.sqrt(hist / hist.sum())


def describe(image: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray | None = None) -> np.ndarray:
    """Descriptors (N, SIZE) float32 of the people in `boxes` (N, 4) of the BGR `image`; keypoints
    (N, K, 3) place the parts when confident. A part outside the image is all zeros (it then lowers the
    similarity, so a person cut by the frame border matches less readily)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), SIZE), np.float32)
    for i, box in enumerate(boxes):
        bands = _bands_from_keypoints(keypoints[i], box) if keypoints is not None else None
        bands = bands or _bands_from_box(box)
        out[i] = np.concatenate([_part_histogram(image, b) for b in bands]) / np.sqrt(len(bands))
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) mean Bhattacharyya coefficient of the parts: 1 same colours, 0 none in common."""
    return np.clip(np.asarray(a, np.float32) @ np.asarray(b, np.float32).T, 0.0, 1.0)
