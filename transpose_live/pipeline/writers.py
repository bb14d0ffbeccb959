"""Outputs of a run, all behind one protocol: `write(frame, poses, image)` once per frame, then
`close()` (complete: renamed into place) or `abort()` (failed: the temporary file is removed).

`needs_image` says whether a writer wants the rendered frame (`image` is None otherwise); a writer with
`event(camera, record)` also gets a camera's loss/reconnection lines. Paths are checked by
`transpose_live.paths.OutputGuard` before any writer is made; every file is written under a temporary
name in its folder and renamed into place by `close()`, so a crash never leaves half a file under the
final name, and Ctrl-C / SIGTERM still close valid files (mp4 finalised, JSONL up to the last completed
frame).

`sinks.open_writers(outputs, source, keypoints)` is the one place a run's writers are made;
`close_writers` the one place they end.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from transpose_live.coco import rescore, results_records
from transpose_live.errors import UserError
from transpose_live.paths import check_writable_dir, check_writable_file, commit, temporary_sibling
from transpose_live.pipeline.sources import Frame
from transpose_live.pose_files import pose_record
from transpose_live.poses import Poses


class Writer(Protocol):
    needs_image: bool

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def close_writers(writers, failed: bool) -> None:
    """Ends a run's writers: all aborted when the run failed; else each closed (published), the writers
    of rendered frames (the big files, the likeliest to hit a full disk) first, and when one close
    fails, the rest are aborted (their temporary files removed) before the error goes on."""
    ordered = sorted(writers, key=lambda w: not getattr(w, "needs_image", False))
    for i, writer in enumerate(ordered):
        if failed:
            writer.abort()
            continue
        try:
            writer.close()
        except BaseException:
            for rest in ordered[i + 1:]:
                with contextlib.suppress(Exception):
                    rest.abort()
            raise


class TemporaryFileWriter:
    """Base of the single-file writers: `self.tmp` is written, `close()` renames it to `self.path`."""

    needs_image = False

    def __init__(self, path: str | Path, what: str) -> None:
        self.path = check_writable_file(path, what)
        self.tmp = temporary_sibling(self.path)
        self._done = False

    def _finish(self) -> None:
        """Flush and close the temporary file (subclasses)."""

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._finish()
            commit(self.tmp, self.path)

    def abort(self) -> None:
        if not self._done:
            self._done = True
            try:
                self._finish()
            finally:
                self.tmp.unlink(missing_ok=True)


class VideoWriter:
    """Rendered video through `transpose_live.media` (H.264 MP4 by default, the input's sound
    kept, each frame at its own timestamp so live recordings play at real speed). Writes to a
    temporary name, renamed on `close()`.

    `write(frame, poses, image)` encodes `image` at `frame.timestamp`."""

    needs_image = True

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], options=None, audio=None) -> None:
        from transpose_live.media import VideoEncoder

        self.path = check_writable_file(path, "--out video")
        self.size = (int(size[0]), int(size[1]))
        self._encoder = VideoEncoder(self.path, fps, self.size, options, audio)

    @property
    def frames(self) -> int:
        return self._encoder.frames

    @property
    def has_audio(self) -> bool:
        return self._encoder.has_audio

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None:
        self._encoder.write(image if image is not None else frame.image, frame.timestamp)

    def close(self) -> None:
        self._encoder.close()

    def abort(self) -> None:
        self._encoder.abort()


class JsonlWriter(TemporaryFileWriter):
    """One JSON line per frame: {frame, timestamp, persons: Poses.to_records()} (+ image name),
    flushed after every line."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, "--json file")
        self._file = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None:
        self._file.write(json.dumps(frame_record(frame, poses), separators=(",", ":")) + "\n")
        self._file.flush()

    def event(self, camera: tuple[int, str], record: dict) -> None:
        """A live camera's event line (lost / reconnected / gave_up / ended; docs/live.md)."""
        self._file.write(json.dumps(event_record(camera, record), separators=(",", ":")) + "\n")
        self._file.flush()

    def _finish(self) -> None:
        self._file.close()


def frame_record(frame: Frame, poses: Poses) -> dict:
    """The JSON object of one frame (`pose_files.pose_record`)."""
    return pose_record(frame.index, frame.timestamp, poses, camera=frame.camera, camera_name=frame.camera_name,
                       image=frame.name)


def event_record(camera: tuple[int, str], record: dict) -> dict:
    """A live camera's event line: {"event", "camera", "camera_name", "timestamp", "time", ...}."""
    return {"event": record["event"], "camera": camera[0], "camera_name": camera[1],
            **{k: v for k, v in record.items() if k != "event"}}


class ImageDirWriter:
    """Rendered images into a folder, under their own names (each written to a temporary name first)."""

    needs_image = True

    def __init__(self, folder: str | Path) -> None:
        self.folder = check_writable_dir(folder, "--out folder")
        self.written: list[Path] = []

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None:
        path = self.folder / (frame.name or f"frame_{frame.index:06d}.jpg")
        if not cv2.haveImageWriter(str(path)):
            path = path.with_suffix(".jpg")
        tmp = temporary_sibling(path)
        if not cv2.imwrite(str(tmp), image):
            tmp.unlink(missing_ok=True)
            raise UserError(f"cannot write image {path}")
        self.written.append(commit(tmp, path))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def coco_image_id(name: str | None, index: int) -> int:
    """COCO ids come from file names like 000000000139.jpg; other names get their index."""
    stem = Path(name).stem if name else ""
    return int(stem) if stem.isdigit() else index


class CocoResultsWriter(TemporaryFileWriter):
    """COCO keypoint results JSON (a list of entries, instance scores rescored as in evaluation)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, "--coco file")
        self.entries: list[dict] = []

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None:
        scores = rescore(poses.keypoints, poses.box_scores)
        self.entries.extend(results_records(coco_image_id(frame.name, frame.index), poses.keypoints, scores))

    def _finish(self) -> None:
        with open(self.tmp, "w", encoding="utf-8") as f:
            json.dump(self.entries, f)


class CallbackWriter:
    """Hands every frame's poses to a function (library use, `image --json -`), and a live camera's
    event lines to `on_event` when given."""

    needs_image = False

    def __init__(self, callback: Callable[[Frame, Poses], None], on_event: Callable[[dict], None] | None = None) -> None:
        self.callback = callback
        self.on_event = on_event

    def event(self, camera: tuple[int, str], record: dict) -> None:
        if self.on_event is not None:
            self.on_event(event_record(camera, record))

    def write(self, frame: Frame, poses: Poses, image: np.ndarray | None) -> None:
        self.callback(frame, poses)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
