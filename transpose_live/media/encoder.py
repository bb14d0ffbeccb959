"""Rendered video files: PyAV (FFmpeg) encoding, H.264 in MP4 by default.

Every frame carries its presentation time (seconds), so a file source keeps its own timing
(variable frame rates included) and a live recording plays back at the speed it was captured.
The picture is yuv420p (what browsers decode); an odd width or height is padded to even by
repeating the last column/row. MP4/MOV files get `+faststart` (the index first, so a browser can
start playing while downloading). The file is written under a temporary name beside the final one
(`transpose_live.paths.temporary_sibling`) and renamed into place by `close()`; `abort()` removes it.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from transpose_live.errors import UserError, first_line
from transpose_live.media.options import AudioTrack, EncodeOptions, check_video_output, container_for
from transpose_live.paths import commit, temporary_sibling


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """(w, h) rounded up to even numbers (yuv420p halves both)."""
    w, h = int(size[0]), int(size[1])
    return w + (w & 1), h + (h & 1)


def fit_frame(image: np.ndarray, size: tuple[int, int], padded: tuple[int, int]) -> np.ndarray:
    """Resizes `image` to `size` when it differs, then pads right/bottom edges up to `padded`."""
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size)
    pad_w, pad_h = padded[0] - size[0], padded[1] - size[1]
    if pad_w or pad_h:
        image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(image)


class _Timeline:
    """Frame times in encoder ticks: strictly increasing; frames without a time follow `fps`."""

    def __init__(self, fps: float, time_base: Fraction) -> None:
        self.fps = fps if fps and fps > 0 else 30.0
        self.time_base = time_base
        self.origin: float | None = None
        self.last_tick: int | None = None
        self.last_seconds = 0.0
        self.last_step = 1.0 / self.fps

    def tick(self, timestamp: float | None, index: int) -> int:
        seconds = index / self.fps if timestamp is None else float(timestamp)
        if self.origin is None:
            self.origin = seconds
        seconds -= self.origin
        tick = round(seconds / self.time_base)
        if self.last_tick is not None:
            if tick <= self.last_tick:
                tick = self.last_tick + 1
            self.last_step = float((tick - self.last_tick) * self.time_base)
        self.last_tick = tick
        self.last_seconds = float(tick * self.time_base)
        return tick

    @property
    def end(self) -> float:
        """End of the last frame (its start + the previous frame interval) in output seconds."""
        return self.last_seconds + (self.last_step if self.last_tick is not None else 0.0)


class VideoEncoder:
    """PyAV video file writer. `write(image, timestamp)`; `close()` finalises and renames."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], options: EncodeOptions | None = None,
                 audio: AudioTrack | None = None) -> None:
        import av

        self.path = Path(path)
        self.options = options or EncodeOptions()
        check_video_output(self.path, self.options)
        fmt, _codecs, copyable, audio_encoder = container_for(self.path)
        spec = self.options.spec
        self.size = (int(size[0]), int(size[1]))
        self.padded = even_size(self.size)
        self.frames = 0
        self._partial = temporary_sibling(self.path)
        self._closed = False
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
        self._timeline = _Timeline(float(rate), spec.time_base)
        container_options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        try:
            self._out = av.open(str(self._partial), "w", format=fmt, options=container_options)
        except (av.FFmpegError, OSError) as exc:
            raise UserError(f"cannot write video {self.path}: {first_line(exc)}") from None
        try:
            options_ = dict(spec.options)
            if spec.encoder == "mpeg4":
                options_.update(flags="+qscale", global_quality=str(self.options.quality * 118))
            else:
                options_["crf"] = str(self.options.quality)
            self._stream = self._out.add_stream(spec.encoder, rate=rate, options=options_)
            self._stream.width, self._stream.height = self.padded
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.time_base = spec.time_base
            if spec.tag:
                self._stream.codec_tag = spec.tag
            # swscale converts BGR -> YUV with BT.601 coefficients: say so, or players guess.
            for attr, value in (("colorspace", 6), ("color_primaries", 6), ("color_trc", 6), ("color_range", 1)):
                try:
                    setattr(self._stream.codec_context, attr, value)
                except (AttributeError, TypeError, ValueError):
                    pass
            self._audio = None
            if audio is not None and self.options.audio:
                from transpose_live.media.audio import AudioCarrier

                self._audio = AudioCarrier(self._out, audio, copyable, audio_encoder)
        except BaseException as exc:
            self._out.close()
            self._partial.unlink(missing_ok=True)
            if isinstance(exc, av.FFmpegError):
                raise UserError(f"cannot encode {self.options.codec} into {self.path}: {first_line(exc)}") from None
            raise

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def write(self, image: np.ndarray, timestamp: float | None = None) -> None:
        """Encodes one BGR frame shown from `timestamp` seconds (None: the next slot at the frame rate)."""
        import av

        tick = self._timeline.tick(timestamp, self.frames)
        frame = av.VideoFrame.from_ndarray(fit_frame(image, self.size, self.padded), format="bgr24")
        frame.pts = tick
        frame.time_base = self._timeline.time_base
        if self._audio is not None:
            self._audio.feed_until(self._timeline.last_seconds)
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flushes the encoder, writes the sound up to the end of the last frame, closes the
        file and renames it into place (idempotent; with no frame written, no file is left)."""
        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.close(self._timeline.end)
            self._out.close()
        except BaseException:  # e.g. a second Ctrl-C while finishing: no half file is left
            with contextlib.suppress(Exception):
                self._out.close()
            self._partial.unlink(missing_ok=True)
            raise
        if self.frames:
            commit(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stops without publishing: the temporary file is removed (the run failed)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._out.close()
        self._partial.unlink(missing_ok=True)
