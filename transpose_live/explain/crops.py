"""The person crop exactly as the model saw it (spec 2.1-2.2), for display, and frame -> crop coordinates."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from transpose_live.engine.boxes import box_to_center_scale, crop_affine, xyxy_to_xywh


def crop_matrix(box_xyxy, input_size: tuple[int, int] = (256, 192)) -> np.ndarray:
    """2x3 float64 matrix mapping frame pixels to the model-input crop (H, W) of one box."""
    box = torch.as_tensor(np.asarray(box_xyxy, np.float64).reshape(1, 4))
    center, scale = box_to_center_scale(xyxy_to_xywh(box), input_size[1] / input_size[0])
    return crop_affine(center, scale, input_size)[0].numpy().astype(np.float64)


def person_crop(image_bgr: np.ndarray, box_xyxy, input_size: tuple[int, int] = (256, 192)):
    """(crop BGR uint8 of input_size, its 2x3 frame->crop matrix); zero border outside the frame."""
    m = crop_matrix(box_xyxy, input_size)
    crop = cv2.warpAffine(image_bgr, m, (input_size[1], input_size[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return crop, m


def to_crop(points_xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(..., 2) frame points -> crop points with a 2x3 matrix."""
    pts = np.asarray(points_xy, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]
