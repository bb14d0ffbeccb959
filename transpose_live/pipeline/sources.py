"""Frame sources: camera, video file, image path or folder, each captured in its own thread.

Live sources (cameras, streams, `webcam --camera FILE`) keep only the newest frame, so latency
never grows when inference is slower than capture; file sources hand over every frame in order.

    >>> with open_video("clip.mp4") as src:
    ...     for frame in src:
    ...         frame.image  # HxWx3 uint8 BGR
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError
from transpose_live.images import IMAGE_SUFFIXES, read_image, to_bgr, try_read_image  # noqa: F401 - to_bgr re-exported


STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
_END = object()
ENDED = _END  # what `poll()` returns once a live source has ended


@dataclass
class Frame:
    """One captured frame.

    index:       position in the source (files: every index; live: gaps where frames were dropped).
    image:       HxWx3 uint8 BGR.
    timestamp:   seconds: the frame's presentation time for files, time since the start for live sources.
    captured_at: `time.perf_counter()` when it was read (for latency).
    name:        file name for images, else None.
    camera:      the camera's position in a multi-camera run (`webcam`), else None.
    camera_name: the camera's name (NAME=SOURCE, else its position), else None.
    """

    index: int
    image: np.ndarray
    timestamp: float
    captured_at: float
    name: str | None = None
    camera: int | None = None
    camera_name: str | None = None


class FrameSource:
    """Base: a capture thread filling a queue (files: every frame) or a newest-only slot (live).

    Attributes: `name`, `fps`, `frame_count` (None when unknown), `size` (w, h) of the first
    frame, `is_live`, `dropped` (live frames replaced before they were consumed), `warnings`,
    `audio` (the sound of a file source, else None).
    """

    name = "source"
    fps = 30.0
    frame_count: int | None = None
    size: tuple[int, int] = (0, 0)
    is_live = False
    audio = None  # transpose_live.media.AudioTrack: the sound a rendered copy carries over

    def __init__(self, queue_size: int = 8) -> None:
        self.dropped = 0
        self.warnings: list[str] = []  # one line each: decode errors, early end (with the frame index)
        self.decode_seconds = 0.0
        self.decoded = 0
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._latest = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.notify: threading.Event | None = None  # set on every new live frame (the stream waits on it)

    # -- subclass hooks -------------------------------------------------------------------
    def _produce(self):
        """Yields Frames (runs in the capture thread)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Frees the underlying capture device (after the thread has stopped)."""

    # -- thread ---------------------------------------------------------------------------
    def start(self) -> "FrameSource":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"capture:{self.name}", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for frame in self._produce():
                if self._stop.is_set():
                    break
                self._publish(frame)
        except BaseException as exc:  # surfaced to the consumer
            self._error = exc
        finally:
            self._publish(_END)

    def _publish(self, item) -> None:
        if self.is_live:
            with self._cond:
                if self._latest is not None and self._latest is not _END and item is not _END:
                    self.dropped += 1
                if self._latest is not _END:
                    self._latest = item
                self._cond.notify_all()
            if self.notify is not None:
                self.notify.set()
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _take(self):
        if self.is_live:
            with self._cond:
                while self._latest is None:
                    if self._stop.is_set():
                        return _END
                    self._cond.wait(0.1)
                item = self._latest
                if item is not _END:
                    self._latest = None
                return item
        while True:
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    return _END

    def poll(self):
        """Live sources: the newest frame not yet taken, None when there is none yet, or `ENDED`."""
        with self._cond:
            item = self._latest
            if item is None:
                return ENDED if self._stop.is_set() else None
            if item is _END:
                if self._error is not None:
                    raise self._error
                return ENDED
            self._latest = None
            return item

    def next_frame(self):
        """File sources: the next frame, waiting for it; `ENDED` after the last (the capture error raised)."""
        item = self.start()._take()
        if item is _END:
            if self._error is not None:
                raise self._error
            return ENDED
        return item

    def __iter__(self):
        self.start()
        while True:
            item = self._take()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def close(self) -> None:
        """Stops the capture thread and releases the device (idempotent). Frames read ahead and not taken
        are dropped, which wakes a capture thread waiting for room in the queue at once (a run stopped
        early, e.g. by --max-frames, no longer waited up to 0.1 s for it)."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """Every frame of a video file, in order, decoded by PyAV (`transpose_live.media.VideoDecoder`):
    timestamps are the frames' presentation times, rotated (phone) videos come upright, decode
    errors and early ends are collected in `warnings`; `audio` is the file's sound for the
    rendered copy."""

    def __init__(self, path: str | Path) -> None:
        from transpose_live.media import VideoDecoder

        super().__init__()
        path = Path(path)
        _check_file(path, "video file")
        t0 = time.perf_counter()
        self._decoder = VideoDecoder(path)
        self.decode_seconds += time.perf_counter() - t0
        self.decoded = 1
        self.name = path.name
        self.fps = self._decoder.fps
        self.frame_count = self._decoder.frame_count
        self.size = self._decoder.size
        self.rotation = self._decoder.rotation
        self.audio = self._decoder.audio
        self.warnings = self._decoder.warnings  # filled while decoding

    def _produce(self):
        for i, item in enumerate(self._decoder.frames()):
            if i:
                self.decode_seconds += item.decode_seconds
                self.decoded += 1
            yield Frame(item.index, item.image, item.timestamp, time.perf_counter())

    def _release(self) -> None:
        self._decoder.close()


class LiveFileSource(VideoFileSource):
    """A video file played as a live camera: paced by its frames' presentation times from the
    moment the pipeline starts reading, stale frames dropped, timestamps from the wall clock.
    Recordings of it are silent (like a camera's)."""

    is_live = True

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.audio = None

    def _produce(self):
        start = media_start = None
        for frame in super()._produce():
            if start is None:
                start, media_start = time.perf_counter(), frame.timestamp
            delay = start + (frame.timestamp - media_start) - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                return
            now = time.perf_counter()
            frame.timestamp, frame.captured_at = now - start, now
            yield frame


class ImageSource(FrameSource):
    """One image, a folder of images (sorted by name) or a list of image paths."""

    def __init__(self, paths: str | Path | list) -> None:
        super().__init__()
        self.paths = list_images(paths)
        self.frame_count = len(self.paths)
        self.fps = 1.0
        self.name = str(paths) if not isinstance(paths, list) else f"{len(self.paths)} images"
        first = self._load(self.paths[0], strict=len(self.paths) == 1)
        if first is None:
            first = np.zeros((1, 1, 3), np.uint8)
        self.size = (first.shape[1], first.shape[0])
        self.skipped: list[str] = []

    def _load(self, path: Path, strict: bool) -> np.ndarray | None:
        t0 = time.perf_counter()
        img = read_image(path) if strict else try_read_image(path)
        if img is None:
            return None
        self.decode_seconds += time.perf_counter() - t0
        self.decoded += 1
        return img

    def _produce(self):
        index = 0
        for path in self.paths:
            if self._stop.is_set():
                return
            img = self._load(path, strict=len(self.paths) == 1)
            if img is None:
                self.skipped.append(str(path))
                continue
            yield Frame(index, img, 0.0, time.perf_counter(), name=path.name)
            index += 1


def list_images(paths: str | Path | list) -> list[Path]:
    """Image files named by a path, a folder (sorted, not recursive) or a list; UserError if none."""
    items = paths if isinstance(paths, list) else [paths]
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
        elif p.is_file():
            found.append(p)
        else:
            raise UserError(f"image path not found: {p}")
    if not found:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {paths}")
    return found


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise UserError(f"{what} not found: {path}")
    if not path.is_file():
        raise UserError(f"{what} is not a file: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{what} is empty: {path}")


def open_video(path: str | Path) -> FrameSource:
    """Every frame of a video file, in order (PyAV)."""
    return VideoFileSource(path)
