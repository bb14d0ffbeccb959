"""Reading still images: any file OpenCV decodes -> HxWx3 uint8 BGR, one clear error otherwise.

The one image reader of the package (image command, COCO evaluation, explain). EXIF orientation is
not applied, as in the reference evaluation (annotations are in the stored pixel order).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from transpose_live.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Any image array (gray, BGRA, 16-bit, float) -> contiguous HxWx3 uint8 BGR."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        elif np.issubdtype(img.dtype, np.floating):
            scale = 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else 1.0
            img = np.clip(np.nan_to_num(img) * scale, 0, 255).astype(np.uint8)
        else:
            img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.ndim != 3 or img.shape[2] != 3:
        raise UserError(f"unsupported image shape {img.shape}; expected gray, BGR or BGRA")
    return np.ascontiguousarray(img)


def try_read_image(path: str | Path) -> np.ndarray | None:
    """The image as BGR uint8, or None when the file is missing, empty or not an image."""
    path = Path(path)
    try:
        data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    except OSError:
        return None
    if data is None or data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        return None
    return to_bgr(image)


def read_image(path: str | Path, hint: str = "") -> np.ndarray:
    """`try_read_image`, with a UserError naming the file (and `hint`, e.g. "check --images")."""
    image = try_read_image(path)
    if image is None:
        raise UserError(f"cannot read image {path} (missing, corrupt or not an image)" + (f"; {hint}" if hint else ""))
    return image
