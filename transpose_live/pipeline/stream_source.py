"""Cameras and network streams on PyAV that never give up: a device (index or /dev/videoN) or an
RTSP/RTMP/HTTP(S) URL (MJPEG, HLS) read at low latency (no demuxer buffering, RTSP over TCP unless
`rtsp_udp`), newest frame only.

A read that stalls for `read_timeout` seconds, an error or the end of the stream is a loss. The
source then reconnects with capped exponential back-off (`BACKOFF_START` doubling to `BACKOFF_CAP`
seconds) until it succeeds, `give_up_after` seconds have passed (None: never) or the pipeline
stops; `reconnect=False` ends the stream at the first loss. Every loss, reconnection and giving up
is a `SourceEvent`: kept in `events` (drained by the live loop into the JSONL) and handed to
`on_event` (the CLI prints one stderr line). Timestamps are wall-clock seconds since the first
frame, so recordings and JSONL keep true times across outages.

    >>> src = StreamSource("rtsp://127.0.0.1:8554/cam", read_timeout=3)
    >>> for frame in src: ...          # keeps going across outages
    >>> src.outages, src.downtime      # 2, 7.4
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import cv2

from transpose_live.errors import UserError, first_line
from transpose_live.pipeline.sources import STREAM_PREFIXES, Frame, FrameSource, LiveFileSource

BACKOFF_START = 0.5
BACKOFF_CAP = 10.0
READ_TIMEOUT = 5.0
OPEN_TIMEOUT = 10.0


@dataclass
class ReconnectPolicy:
    """How a live stream behaves when it is lost (see the module docstring)."""

    reconnect: bool = True
    give_up_after: float | None = None  # seconds of one outage; None: never
    read_timeout: float = READ_TIMEOUT
    rtsp_udp: bool = False
    backoff_start: float = BACKOFF_START
    backoff_cap: float = BACKOFF_CAP

    def delays(self):
        """The waits between reconnection attempts: 0.5, 1, 2, 4, 8, 10, 10, ..."""
        delay = self.backoff_start
        while True:
            yield delay
            delay = min(delay * 2, self.backoff_cap)


@dataclass
class SourceEvent:
    """A loss ("lost"), a reconnection ("reconnected", with `downtime`) or the end of retrying
    ("gave_up", with `downtime`); `timestamp` is on the source's clock (seconds since its first frame)."""

    kind: str
    timestamp: float
    reason: str = ""
    downtime: float | None = None
    attempts: int = 0
    outage: int = 0
    wall_time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def record(self) -> dict:
        """The JSONL event line (without the camera fields, which the writer's frame adds)."""
        out = {"event": self.kind, "timestamp": round(self.timestamp, 4), "time": self.wall_time, "outage": self.outage}
        if self.reason:
            out["reason"] = self.reason
        if self.downtime is not None:
            out["downtime"] = round(self.downtime, 3)
        if self.attempts:
            out["attempts"] = self.attempts
        return out

    def line(self, name: str) -> str:
        """The stderr line."""
        if self.kind == "lost":
            return f"camera {name}: stream lost at {self.timestamp:.1f} s ({self.reason}); reconnecting"
        if self.kind == "reconnected":
            return (f"camera {name}: reconnected after {self.downtime:.1f} s down "
                    f"({self.attempts} attempt{'s' * (self.attempts != 1)})")
        if self.kind == "ended":
            return f"camera {name}: stream lost at {self.timestamp:.1f} s ({self.reason}); not reconnecting (--no-reconnect)"
        return f"camera {name}: gave up after {self.downtime:.1f} s down ({self.reason})"


def is_stream_url(text: str) -> bool:
    return text.lower().startswith(STREAM_PREFIXES)


def device_url(spec: str) -> tuple[str, str | None]:
    """A camera index or device path -> (what to open, FFmpeg input format)."""
    if sys.platform == "darwin":
        return spec, "avfoundation"
    if sys.platform == "win32":
        return f"video={spec}", "dshow"
    path = f"/dev/video{spec}" if spec.isdigit() else spec
    return path, "v4l2"


class StreamSource(FrameSource):
    """A camera or stream read by PyAV in the capture thread, reconnecting as `policy` says.

    The first connection happens here (a wrong URL or missing device fails at once, UserError);
    later losses are reconnected. Frames keep the first frame's size (a stream that comes back at
    another size is scaled to it, so recordings stay valid)."""

    is_live = True

    def __init__(self, spec: str, policy: ReconnectPolicy | None = None, name: str | None = None, on_event=None) -> None:
        super().__init__()
        self.spec = str(spec)
        self.policy = policy or ReconnectPolicy()
        self.name = name or self.spec
        self.on_event = on_event
        self.events: collections.deque[SourceEvent] = collections.deque()
        self.outages = 0
        self.downtime = 0.0
        self.outage_seconds: list[float] = []
        self.gave_up = False
        self.lost = False  # ended by a loss it did not recover from (gave up, or --no-reconnect)
        self._start: float | None = None
        self._lock = threading.Lock()
        self._url, self._format = (self.spec, None) if is_stream_url(self.spec) else device_url(self.spec)
        if self._format == "v4l2" and not os.path.exists(self._url):
            raise UserError(f"cannot open camera {self.spec!r}: no such device {self._url}; "
                            "check --camera (index, /dev/videoN, URL or video file)")
        try:
            self._container, self._frames = self._open()
            first = next(self._frames)
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the user's to fix
            raise UserError(f"cannot open camera {self.spec!r} ({_reason(exc)}); "
                            "check --camera (index, /dev/videoN, URL or video file)") from None
        self._first = first
        self.size = (first.shape[1], first.shape[0])
        rate = self._container.streams.video[0].average_rate
        self.fps = float(rate) if rate and 0 < float(rate) < 1000 else 30.0

    # -- connection ---------------------------------------------------------------------
    def _options(self) -> dict:
        opts = {"fflags": "nobuffer", "flags": "low_delay"}
        lower = self._url.lower()
        if lower.startswith("rtsp://"):
            opts["rtsp_transport"] = "udp" if self.policy.rtsp_udp else "tcp"
        if lower.startswith(("http://", "https://")):
            opts["reconnect"] = "0"  # reconnection is ours, with back-off and events
        return opts

    def _open(self):
        import av

        timeout = (max(OPEN_TIMEOUT, self.policy.read_timeout), self.policy.read_timeout)
        container = av.open(self._url, format=self._format, options=self._options(), timeout=timeout)
        try:
            if not container.streams.video:
                raise UserError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"  # frame threading would hold frames back
            return container, self._images(container, stream)
        except BaseException:
            container.close()
            raise

    def _images(self, container, stream):
        for frame in container.decode(stream):
            t0 = time.perf_counter()
            image = frame.to_ndarray(format="bgr24")
            if self.size[0] and (image.shape[1], image.shape[0]) != self.size:
                image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
            self.decode_seconds += time.perf_counter() - t0
            self.decoded += 1
            yield image

    def _reconnect(self, lost_at: float):
        """(container, frames) once a connection gives a frame again; None when giving up or stopping."""
        attempts = 0
        reason = ""
        for delay in self.policy.delays():
            down = time.perf_counter() - lost_at
            limit = self.policy.give_up_after
            if limit is not None:
                if down >= limit:  # the last attempt was made at the limit
                    self._emit(SourceEvent("gave_up", self._clock(), reason or "no connection",
                                           downtime=down, attempts=attempts, outage=self.outages))
                    self.gave_up = self.lost = True
                    return None
                delay = min(delay, limit - down)
            if self._stop.wait(delay):
                return None
            attempts += 1
            try:
                container, frames = self._open()
                first = next(frames)
            except Exception as exc:  # noqa: BLE001 - still down: try again later
                reason = _reason(exc)
                continue
            downtime = time.perf_counter() - lost_at
            self._end_outage(downtime)
            self._emit(SourceEvent("reconnected", self._clock(), downtime=downtime, attempts=attempts, outage=self.outages))
            self._first = first
            return container, frames
        return None

    # -- capture thread -------------------------------------------------------------------
    def _clock(self) -> float:
        return time.perf_counter() - self._start if self._start is not None else 0.0

    def _emit(self, event: SourceEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(self, event)

    def _end_outage(self, downtime: float) -> None:
        with self._lock:
            self.downtime += downtime
            self.outage_seconds.append(downtime)

    def _produce(self):
        index = 0
        container, frames = self._container, self._frames
        while True:
            reason = "stream ended"
            try:
                image = self._first
                self._first = None
                while not self._stop.is_set():
                    if image is None:
                        image = next(frames)
                    now = time.perf_counter()
                    if self._start is None:
                        self._start = now
                    yield Frame(index, image, now - self._start, now)
                    index += 1
                    image = None
            except StopIteration:
                pass
            except Exception as exc:  # noqa: BLE001 - a stall or a broken stream is a loss
                reason = _reason(exc)
            finally:
                frames.close()
                container.close()
            if self._stop.is_set():
                return
            lost_at = time.perf_counter()
            self.outages += 1
            if not self.policy.reconnect:
                self.lost = True
                self._emit(SourceEvent("ended", self._clock(), reason, outage=self.outages))
                return
            self._emit(SourceEvent("lost", self._clock(), reason, outage=self.outages))
            found = self._reconnect(lost_at)
            if found is None:  # gave up, or the pipeline stopped during the outage
                self._end_outage(time.perf_counter() - lost_at)
                return
            container, frames = found

    def _release(self) -> None:
        if self._thread is None:  # never started: the first connection is still open
            self._frames.close()
            self._container.close()


def _reason(exc: BaseException) -> str:
    """A short cause for a loss: a timeout says so, else FFmpeg's message."""
    text = first_line(exc)
    filename = getattr(exc, "filename", None)
    if filename and text.endswith(f": {filename!r}"):
        text = text[: -len(f": {filename!r}")]
    if "Immediate exit" in text or "ExitError" in type(exc).__name__:
        return "no data (read timeout)"
    if getattr(exc, "errno", None) == 5:  # EIO: FFmpeg's word for a connection closed mid-stream
        return "connection closed"
    return text


def open_camera(spec: int | str, policy: ReconnectPolicy | None = None, name: str | None = None,
                on_event=None) -> FrameSource:
    """`webcam --camera` value -> live source: index, /dev/videoN or stream URL (`StreamSource`,
    reconnecting as `policy` says), or a video file played at its own frame rate with stale frames
    dropped (`LiveFileSource`; it ends normally)."""
    text = str(spec).strip()
    if text.isdigit() or is_stream_url(text) or text.startswith("/dev/"):
        return StreamSource(text, policy, name=name, on_event=on_event)
    source = LiveFileSource(text)
    if name:
        source.name = name
    return source
