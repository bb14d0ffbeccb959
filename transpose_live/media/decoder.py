"""Video files decoded with PyAV (FFmpeg): frames in presentation order with their true times.

- `timestamp` is the frame's presentation time in seconds (pts x time base), so variable frame
  rates and non-integer rates (29.93 fps phone clips) keep their real timing;
- a display rotation (phone videos filmed upright) is applied, so frames and every coordinate
  computed on them are in the upright picture;
- a packet that fails to decode is skipped and reported with the frame index it stopped at, a
  frame FFmpeg decodes with errors (damaged data, concealed) is reported with its index, and a
  file that ends before the frame count its container announces (a truncated download or copy)
  is reported too. Reports collect in `warnings` (one line each).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from transpose_live.errors import UserError, first_line
from transpose_live.media.options import AudioTrack

MAX_DECODE_ERRORS = 25  # in a row: the rest of the file is unreadable
MAX_REPORTED_ERRORS = 5

_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, -90: cv2.ROTATE_90_CLOCKWISE, 270: cv2.ROTATE_90_CLOCKWISE,
           -270: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, -180: cv2.ROTATE_180}


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Applies a display rotation (degrees counter-clockwise, as FFmpeg's display matrix gives it)."""
    code = _ROTATE.get(int(rotation))
    return image if code is None else cv2.rotate(image, code)


@dataclass
class DecodedFrame:
    index: int
    image: np.ndarray  # HxWx3 uint8 BGR, upright
    timestamp: float  # seconds, the file's own clock
    decode_seconds: float


class VideoDecoder:
    """Opens a video file; `frames()` yields `DecodedFrame`s. The first frame is decoded here,
    so an unreadable file fails at once (UserError).

    Attributes: `fps` (average rate), `frame_count` (what the container announces, None when it
    does not say), `size` (w, h upright), `rotation`, `audio` (`AudioTrack` or None),
    `warnings`, `decoded`, `ended_early`."""

    def __init__(self, path: str | Path) -> None:
        import av

        self._av = av
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot open video file {self.path} ({first_line(exc)}); corrupt or not a video") from None
        if not self._container.streams.video:
            self._container.close()
            raise UserError(f"no video stream in {self.path}")
        self.stream = self._container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate and 0 < float(rate) < 1000 else 30.0
        self.frame_count = int(self.stream.frames) if self.stream.frames and self.stream.frames > 0 else None
        self.warnings: list[str] = []
        self.decoded = 0
        self.ended_early = False
        self.rotation = 0
        self._errors = 0
        self.damaged = 0
        self._closed = False
        self._frames = self._decode()
        first = next(self._frames, None)
        if first is None:
            self.close()
            detail = f": {self.warnings[0]}" if self.warnings else ""
            raise UserError(f"no frame could be decoded from video file {self.path}{detail}")
        self._first: DecodedFrame | None = first
        self.size = (first.image.shape[1], first.image.shape[0])
        self.audio = self._audio_track(first.timestamp)

    def _audio_track(self, origin: float) -> AudioTrack | None:
        streams = self._container.streams.audio
        if not streams:
            return None
        stream = streams[0]
        return AudioTrack(str(self.path), stream.index, stream.codec_context.name, origin)

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame in presentation order (the first one included)."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._frames

    def _decode(self) -> Iterator[DecodedFrame]:
        av = self._av
        index = 0
        packets = self._container.demux(self.stream)
        t0 = time.perf_counter()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                self._warn(f"reading stopped at frame {index}: {first_line(exc)}")
                break
            try:
                decoded = packet.decode()
            except av.FFmpegError as exc:
                self._errors += 1
                if self._errors <= MAX_REPORTED_ERRORS:
                    self._warn(f"decode error at frame {index}: {first_line(exc)}; packet skipped")
                if self._errors >= MAX_DECODE_ERRORS:
                    self._warn(f"{self._errors} decode errors in a row at frame {index}; stopped reading")
                    break
                continue
            for frame in decoded:
                self._errors = 0
                if frame.is_corrupt:
                    self.damaged += 1
                    if self.damaged <= MAX_REPORTED_ERRORS:
                        self._warn(f"frame {index} is damaged (decoded with errors, concealed)")
                if index == 0:
                    self.rotation = int(round(frame.rotation or 0))
                image = upright(frame.to_ndarray(format="bgr24"), self.rotation)
                timestamp = float(frame.time) if frame.pts is not None else index / self.fps
                seconds = time.perf_counter() - t0
                self.decoded += 1
                yield DecodedFrame(index, image, timestamp, seconds)
                index += 1
                t0 = time.perf_counter()
        if self.damaged > MAX_REPORTED_ERRORS:
            self._warn(f"{self.damaged} damaged frames in all")
        if self.frame_count is not None and 0 < index < self.frame_count and not self._closed:
            self.ended_early = True
            self._warn(f"video ended at frame {index} of the {self.frame_count} its container announces "
                       "(truncated or damaged file?)")

    def _warn(self, text: str) -> None:
        self.warnings.append(f"{self.path.name}: {text}")

    def close(self) -> None:
        self._closed = True
        try:
            self._frames.close()
        except ValueError:  # still running in the capture thread; closing the container ends it
            pass
        self._container.close()
