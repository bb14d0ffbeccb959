"""Outputs: rendered mp4, per-frame JSONL, rendered images, COCO keypoint results.

Every writer checks its path when it is created (before any frame is processed) and raises
UserError if it cannot write there. `close()` always leaves a valid file: the mp4 is finalised
(playable) and the JSONL ends with the last completed frame, also after Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from transpose_live.errors import UserError
from transpose_live.poses import Poses

COCO_VISIBLE_THR = 0.2


def check_writable_file(path: str | Path, what: str = "output") -> Path:
    """UserError unless `path` can be created/overwritten (parent folders are created)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def check_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """UserError unless `path` is (or can be made) a folder we can write into."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"cannot write into {what} {path}: permission denied")
    return path


class VideoWriter:
    """Rendered video through `transpose_live.media` (H.264 MP4 by default, the input's sound
    kept, each frame at its own timestamp so live recordings play at real speed; OpenCV mp4v
    with a warning when PyAV is missing). Writes to a temporary name, renamed on `close()`.

    `write(frame, poses, image)` (the writer protocol) encodes `image` at `frame.timestamp`;
    `write(image)` alone places it at the next slot of `fps`."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], options=None, audio=None,
                 warn=None) -> None:
        from transpose_live.media import open_video_encoder

        self.path = check_writable_file(path, "--out video")
        self.size = (int(size[0]), int(size[1]))
        self._encoder = open_video_encoder(self.path, fps, self.size, options, audio, warn=warn)

    @property
    def frames(self) -> int:
        return self._encoder.frames

    @property
    def has_audio(self) -> bool:
        return self._encoder.has_audio

    def write(self, frame, poses: Poses | None = None, image: np.ndarray | None = None) -> None:
        if isinstance(frame, np.ndarray):
            self._encoder.write(frame, None)
        else:
            self._encoder.write(image if image is not None else frame.image, frame.timestamp)

    def close(self) -> None:
        self._encoder.close()


class JsonlWriter:
    """One JSON line per frame: {frame, timestamp, persons: Poses.to_records()} (+ image name),
    flushed after every line."""

    def __init__(self, path: str | Path) -> None:
        self.path = check_writable_file(path, "--json file")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, frame_index: int, timestamp: float, poses: Poses, name: str | None = None) -> None:
        record = {"frame": int(frame_index), "timestamp": round(float(timestamp), 4)}
        if name is not None:
            record["image"] = name
        record["persons"] = poses.to_records()
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ImageDirWriter:
    """Rendered images into a folder, under their own names."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = check_writable_dir(folder, "--out folder")
        self.written: list[Path] = []

    def write(self, image: np.ndarray, name: str | None, index: int) -> None:
        path = self.folder / (name or f"frame_{index:06d}.jpg")
        if not cv2.imwrite(str(path), image):
            path = path.with_suffix(".jpg")
            if not cv2.imwrite(str(path), image):
                raise UserError(f"cannot write image {path}")
        self.written.append(path)

    def close(self) -> None:
        pass


def coco_image_id(name: str | None, index: int) -> int:
    """COCO ids come from file names like 000000000139.jpg; other names get their index."""
    stem = Path(name).stem if name else ""
    return int(stem) if stem.isdigit() else index


def coco_results(poses: Poses, image_id: int) -> list[dict]:
    """COCO keypoint results entries; score = box score x mean score of keypoints above 0.2."""
    out = []
    for i in range(len(poses)):
        kpts = poses.keypoints[i]
        visible = kpts[:, 2] > COCO_VISIBLE_THR
        kscore = float(kpts[visible, 2].mean()) if visible.any() else 0.0
        out.append({
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
            "score": round(float(poses.box_scores[i]) * kscore, 5),
        })
    return out


class CocoResultsWriter:
    """COCO keypoint results JSON (a list of entries), written atomically on close."""

    def __init__(self, path: str | Path) -> None:
        self.path = check_writable_file(path, "--coco file")
        self.entries: list[dict] = []

    def write(self, poses: Poses, name: str | None, index: int) -> None:
        self.entries.extend(coco_results(poses, coco_image_id(name, index)))

    def close(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.entries, f)
        os.replace(tmp, self.path)
