"""Live cameras, one or many, through one model: the chain behind `webcam`.

Each tick takes the newest frame of every camera that has one, runs the detector on each (or boxes
people from their previous keypoints, `det_every`), then sends all the cameras' crops through the
pose model as one batch (`PoseEstimator.estimate_batch`). Each camera keeps its own box scheduler,
tracker, output thread (render -> its writers) and statistics, so tracks never mix between
cameras. A camera's loss/reconnection events (`stream_source.SourceEvent`) are written to its
writers (JSONL event lines) in order with its frames.

    >>> cams = [LiveCamera(0, "door", open_camera(url0), PoseTracker(), [JsonlWriter("door.jsonl")]),
    ...         LiveCamera(1, "desk", open_camera(url1), PoseTracker(), [JsonlWriter("desk.jsonl")])]
    >>> result = run_cameras(cams, estimator, detector, PipelineOptions(max_frames=100))
    >>> print(result.summary())
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from transpose_live.pipeline.keypoint_boxes import BoxScheduler
from transpose_live.pipeline.live_display import TiledDisplay
from transpose_live.pipeline.render import Hud
from transpose_live.pipeline.runner import (
    OutputStage,
    PipelineOptions,
    PipelineResult,
    StageTimes,
    describe_runtime,
    frame_boxes,
    stop_on_signals,
    track_poses,
    warm_up,
)
from transpose_live.pipeline.sources import ENDED, Frame, FrameSource
from transpose_live.pipeline.stream_source import SourceEvent
from transpose_live.poses import Poses


class CameraStats:
    """A writer that measures what reaches the outputs: frames, persons, capture->output latency."""

    needs_image = False

    def __init__(self) -> None:
        self.frames = 0
        self.persons = 0
        self.latencies: list[float] = []  # seconds, the last 10 000
        self.first: float | None = None
        self.last: float | None = None

    def write(self, frame: Frame, poses: Poses, image) -> None:
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.frames += 1
        self.persons += len(poses)
        self.latencies.append(now - frame.captured_at)
        if len(self.latencies) > 10_000:
            del self.latencies[:5_000]

    @property
    def fps(self) -> float:
        return (self.frames - 1) / (self.last - self.first) if self.frames > 1 and self.last > self.first else 0.0

    def latency_ms(self, q: float) -> float:
        return 1000 * float(np.percentile(self.latencies, q)) if self.latencies else 0.0

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


@dataclass
class LiveCamera:
    """One camera of a live run: its position and name, source, tracker and writers."""

    index: int
    name: str
    source: FrameSource
    tracker: object | None = None  # pipeline.Tracker
    writers: list = field(default_factory=list)
    overlay: object | None = None  # e.g. analytics.live.LiveExercise: this camera's rep counters and their drawing

    def __post_init__(self) -> None:
        self.stats = CameraStats()
        self.frames_in = 0
        self.event_clock = float("-inf")  # the timestamp of the last source event passed on
        self.done = False
        self.scheduler: BoxScheduler | None = None
        self.output: LiveOutputStage | None = None


@dataclass
class CameraReport:
    """One camera's line of the summary."""

    index: int
    name: str
    frames: int
    persons: int
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    outages: int = 0
    downtime: float = 0.0
    dropped: int = 0
    lost: bool = False  # ended by a loss not recovered from (gave up, --no-reconnect)

    def line(self) -> str:
        label = f"camera {self.index}" + (f" ({self.name})" if self.name != str(self.index) else "")
        text = (f"{label}: {self.frames} frames, {self.fps:.1f} fps, "
                f"latency p50 {self.latency_p50_ms:.0f} ms p95 {self.latency_p95_ms:.0f} ms")
        if self.outages:
            text += f", {self.outages} outage{'s' * (self.outages != 1)}, {self.downtime:.1f} s down"
        return text + (", lost" if self.lost else "")


@dataclass
class LiveResult(PipelineResult):
    """`PipelineResult` over all cameras, plus one `CameraReport` each."""

    cameras: list = field(default_factory=list)

    @property
    def outages(self) -> int:
        return sum(c.outages for c in self.cameras)

    @property
    def downtime(self) -> float:
        return sum(c.downtime for c in self.cameras)

    def summary(self) -> str:
        return "\n".join([super().summary(), *(c.line() for c in self.cameras)])


class LiveOutputStage(OutputStage):
    """The output thread of one camera: frames as in `OutputStage`, and source events handed to
    every writer that has `event(frame_like, record)` (the JSONL writers)."""

    def _emit(self, frame, poses=None, raw=None) -> None:
        if isinstance(frame, SourceEvent):
            for writer in self.writers:
                if hasattr(writer, "event"):
                    writer.event(self._camera, frame.record())
            return
        super()._emit(frame, poses, raw)

    def set_camera(self, index: int, name: str) -> None:
        self._camera = (index, name)


def run_cameras(cameras: Sequence[LiveCamera], estimator, detector: Callable,
                options: PipelineOptions | None = None) -> LiveResult:
    """Runs every camera until each has ended (a file played live, a stream given up), reached
    `options.max_frames` (per camera), or the run is stopped (Ctrl-C, SIGTERM, q/Esc in the window). Writers are closed
    (aborted on failure) and sources closed at the end. Returns a `LiveResult`."""
    options = options or PipelineOptions()
    times, stop, signals, notify = StageTimes(), threading.Event(), [], threading.Event()
    display = TiledDisplay(len(cameras)) if options.show else None
    for cam in cameras:
        cam.scheduler = BoxScheduler(options.det_every, options.kpt_thr)
        cam.output = _output_stage(cam, options, times, display, getattr(estimator, "keypoints", None))
        cam.source.notify = notify
    error: BaseException | None = None
    t_start = time.perf_counter()
    try:
        with stop_on_signals(stop, signals):
            warm_up(estimator, detector, cameras[0].source)
            for cam in cameras:
                cam.output.start()
                cam.source.start()
            _loop(cameras, estimator, detector, options, (times, stop, notify, display))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        result = _finish(cameras, error, display, times)
        result.wall_seconds = time.perf_counter() - t_start
        result.interrupted = signals[0] if signals else None
        result.pose_runtime = describe_runtime(estimator)
    failed = next((c.output.error for c in cameras if c.output.error is not None), None)
    if failed is not None:
        raise failed
    return result


def _output_stage(cam: LiveCamera, options: PipelineOptions, times: StageTimes, display, keypoints) -> LiveOutputStage:
    shown = display.for_camera(cam.index) if display is not None else None
    stage = LiveOutputStage([*cam.writers, cam.stats], times, options.kpt_thr, options.attention_keypoint,
                            Hud() if options.hud else None, shown, None, options.queue_size, keypoints,
                            cam.overlay)
    stage.blur = options.blur
    stage.set_camera(cam.index, cam.name)
    return stage


def _loop(cameras: Sequence[LiveCamera], estimator, detector, options: PipelineOptions, shared) -> None:
    times, stop, notify, display = shared
    want_attention = options.attention_keypoint is not None
    while not stop.is_set():
        notify.clear()
        ticked = _newest_frames(cameras)
        if all(c.done for c in cameras):
            return
        if not ticked:
            notify.wait(0.05)
        else:
            boxes, scores = [], []
            for cam, frame in ticked:
                b, s, from_detector = frame_boxes(cam.scheduler, frame.image, detector, times, options.max_persons)
                boxes.append(b)
                scores.append(s)
                cam.from_detector = from_detector
            with times.time("pose"):
                raws = estimator.estimate_batch([f.image for _, f in ticked], boxes, scores,
                                                return_attention=want_attention)
            for (cam, frame), raw in zip(ticked, raws):
                _deliver(cam, frame, raw, times, options)
        if (display is not None and display.show()) or any(c.output.error is not None or c.output.ended
                                                            for c in cameras):
            stop.set()


def _newest_frames(cameras: Sequence[LiveCamera]) -> list[tuple[LiveCamera, Frame]]:
    """(camera, newest frame) of every camera with a new frame; cameras that ended are marked done.
    A camera without a new frame passes its source events on now; one with a frame passes them on in
    time order with it (`_deliver`). A frame older than an event already passed on is dropped as stale."""
    ticked = []
    for cam in cameras:
        if cam.done:
            continue
        item = cam.source.poll()
        if item is ENDED:
            cam.done = True
        elif item is not None and item.timestamp >= cam.event_clock:
            item.camera, item.camera_name = cam.index, cam.name
            ticked.append((cam, item))
            continue
        _forward_events(cam)
    return ticked


def _forward_events(cam: LiveCamera, until: float | None = None) -> None:
    """The camera's source events (up to `until` on its clock) into its output thread, in order."""
    events = getattr(cam.source, "events", None)
    while events and (until is None or events[0].timestamp <= until):
        event = events.popleft()
        cam.event_clock = max(cam.event_clock, event.timestamp)
        cam.output.put((event,))


def _deliver(cam: LiveCamera, frame: Frame, raw: Poses, times: StageTimes, options: PipelineOptions) -> None:
    _forward_events(cam, until=frame.timestamp)
    poses = track_poses(cam.tracker, cam.scheduler, raw, frame.timestamp, cam.from_detector, times)
    cam.output.put((frame, poses, raw))
    cam.frames_in += 1
    if options.max_frames is not None and cam.frames_in >= options.max_frames:
        cam.done = True


def _finish(cameras: Sequence[LiveCamera], error, display, times: StageTimes) -> LiveResult:
    """Closes sources, drains the output threads (events last), closes or aborts the writers."""
    result = LiveResult()
    for cam in cameras:
        cam.source.close()
    for cam in cameras:
        _forward_events(cam)
        cam.output.finish()
    failed = error is not None or any(c.output.error is not None for c in cameras)
    for cam in cameras:
        for writer in cam.writers:
            writer.abort() if failed else writer.close()
        src = cam.source
        times.add("read", src.decode_seconds, src.decoded)
        result.frames += cam.stats.frames
        result.persons += cam.stats.persons
        result.dropped += src.dropped
        result.warnings += [f"camera {cam.name}: {w}" for w in src.warnings]
        result.cameras.append(CameraReport(cam.index, cam.name, cam.stats.frames, cam.stats.persons, cam.stats.fps,
                                           cam.stats.latency_ms(50), cam.stats.latency_ms(95),
                                           getattr(src, "outages", 0), getattr(src, "downtime", 0.0), src.dropped,
                                           getattr(src, "lost", False)))
    if display is not None:
        display.close()
    result.stage_seconds, result.stage_calls = dict(times.seconds), dict(times.calls)
    result.detector_runs = times.calls["detect"]
    return result
