"""Training augmentation (spec 3): random scale +/-35%, rotation +/-45 deg (probability 0.6),
horizontal flip with joint swap (0.5), half-body crop (0.3, when more than 8 joints are visible).

Every draw comes from the generator passed in, so a sample's augmentation depends only on
(seed, epoch, index): the same with any number of loader workers or processes, and after --resume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transpose_live.engine.boxes import PIXEL_STD
from transpose_live.training.keypoint_set import KeypointSet

HALF_BODY_PADDING = 1.5


@dataclass(frozen=True)
class AugmentConfig:
    scale: float = 0.35
    rotation: float = 45.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8  # more than this many visible joints

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(scale=0.0, rotation=0.0, rotation_prob=0.0, flip_prob=0.0, half_body_prob=0.0)


@dataclass(frozen=True)
class CropParams:
    center: np.ndarray
    scale: np.ndarray
    rotation: float = 0.0
    mirror: bool = False


def half_body_box(joints: np.ndarray, kset: KeypointSet, aspect: float, rng: np.random.Generator):
    """center, scale of the upper or lower body's visible joints, or None when too few are visible."""
    visible = joints[:, 2] > 0
    lower = np.zeros(len(joints), bool)
    lower[list(kset.lower_body())] = True
    upper_ids = np.flatnonzero(visible & ~lower)
    lower_ids = np.flatnonzero(visible & lower)
    chosen = upper_ids if (rng.random() < 0.5 and len(upper_ids) > 2) or len(lower_ids) <= 2 else lower_ids
    if len(chosen) < 2:
        return None
    pts = joints[chosen, :2]
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    center = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    scale = np.array([w, h]) / PIXEL_STD * HALF_BODY_PADDING
    return center, scale


def draw_crop(center: np.ndarray, scale: np.ndarray, joints: np.ndarray, kset: KeypointSet, aspect: float,
              cfg: AugmentConfig, rng: np.random.Generator) -> CropParams:
    """Random crop parameters for one training sample."""
    center, scale = np.asarray(center, np.float64), np.asarray(scale, np.float64)
    if cfg.half_body_prob > 0 and (joints[:, 2] > 0).sum() > cfg.half_body_min_joints \
            and rng.random() < cfg.half_body_prob:
        box = half_body_box(joints, kset, aspect, rng)
        if box is not None:
            center, scale = box
    if cfg.scale > 0:
        scale = scale * rng.uniform(1.0 - cfg.scale, 1.0 + cfg.scale)
    rotation = 0.0
    if cfg.rotation > 0 and rng.random() < cfg.rotation_prob:
        rotation = float(rng.uniform(-cfg.rotation, cfg.rotation))
    mirror = bool(cfg.flip_prob > 0 and kset.flip_pairs and rng.random() < cfg.flip_prob)
    return CropParams(center, scale, rotation, mirror)

