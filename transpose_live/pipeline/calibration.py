"""INT8 calibration crops from the user's frames (`export --precision int8 --calibration PATH`, and the
INT8 model a run makes of a checkpoint, `pipeline.int8_cache`).

A video, an image or a folder of images -> up to `max_frames` frames spread over the source -> the
project's person detector -> the engine's crop code (the same center/scale, affine crop and
normalisation as inference) -> (N, 3, H, W) crops at the pose model's input size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from transpose_live.backends.quantize import Calibration
from transpose_live.engine.boxes import box_to_center_scale, xyxy_to_xywh
from transpose_live.engine.crops import crop_frame, frame_to_tensor
from transpose_live.errors import UserError
from transpose_live.images import IMAGE_SUFFIXES

MAX_FRAMES = 120
MAX_CROPS = 300  # NNCF's default subset size


def calibration_frames(path: str | Path, max_frames: int = MAX_FRAMES, spread_over: int | None = None,
                       what: str = "--calibration") -> list[np.ndarray]:
    """Up to max_frames BGR frames spread evenly over a video (over its first `spread_over` frames only, when
    given: a run calibrating on its own long input does not decode all of it), or the images of a file/folder.
    what: the option that named `path`, for the errors."""
    from transpose_live.pipeline.sources import ImageSource, open_video  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} path not found: {path}")
    is_images = path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES
    source = ImageSource(path) if is_images else open_video(path)
    count = source.frame_count or spread_over or max_frames
    if spread_over is not None:
        count = min(count, spread_over)
    stride = max(1, count // max_frames)
    last = count if spread_over is not None and not is_images else None  # the frames read at most
    frames = []
    with source:
        for frame in source:
            if frame.index % stride == 0:
                frames.append(frame.image)
            if len(frames) >= max_frames or (last is not None and frame.index + 1 >= last):
                break
    if not frames:
        raise UserError(f"{what} {path} holds no readable frames")
    return frames


def calibration_crops(path: str | Path, input_size: tuple[int, int], detector_weights=None,
                      max_frames: int = MAX_FRAMES, max_crops: int = MAX_CROPS, spread_over: int | None = None,
                      what: str = "--calibration") -> Calibration:
    """The calibration crops of the people the detector finds in `path`'s frames (`calibration_frames`)."""
    from transpose_live.pipeline.detector import build_detector  # noqa: PLC0415

    frames = calibration_frames(path, max_frames, spread_over, what)
    detector = build_detector("yolo", detector_weights, device="cpu", pose_backend="torch")
    aspect = input_size[1] / input_size[0]
    crops = []
    with torch.inference_mode():
        for image in frames:
            boxes, _ = detector(image)
            if len(boxes) == 0:
                continue
            center, scale = box_to_center_scale(xyxy_to_xywh(torch.from_numpy(np.asarray(boxes))), aspect)
            crops.append(crop_frame(frame_to_tensor(image, torch.device("cpu")), center, scale, input_size).numpy())
    if not crops:
        raise UserError(f"the detector found no people in {what} {path}; give frames with people in them")
    stacked = np.concatenate(crops).astype(np.float32)
    if len(stacked) > max_crops:
        stacked = stacked[np.linspace(0, len(stacked) - 1, max_crops).round().astype(int)]
    return Calibration(stacked, str(path), len(frames))
