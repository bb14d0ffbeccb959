"""The one frame stream behind `video`, `image`, `webcam`, `batch` and `bench --pipeline`.

    sources (1..N) -> frame_stream: per tick, each source's next frame (files, in order) or newest frame
                      and events (cameras) -> boxes per source (detector or previous keypoints) -> one
                      `estimate_batch` over all the tick's crops -> each source's tracker
                   -> output.OutputStage: per source render -> writers (+ overlay, window, web view);
                      per tick the cross-source sinks (`TickSink`, e.g. multi-camera 3D)
                   -> end: writers closed in one order (`writers.close_writers`), then the after-run hooks

Threads: each source's capture thread, the calling thread (this loop: detect, pose, track), the output
threads (one per source, one for the cross-source sinks), joined by bounded queues (back-pressure for
files; cameras keep only their newest frame). Per-source state (box scheduler, tracker, overlay, writers,
statistics) lives in one `StreamInput` per source; nothing mixes between sources.

    >>> inputs = [StreamInput(open_camera(url0), [JsonlWriter("door.jsonl")], PoseTracker(), name="door"),
    ...           StreamInput(open_camera(url1), [JsonlWriter("desk.jsonl")], PoseTracker(), name="desk")]
    >>> result = run_stream(inputs, estimator, detector, PipelineOptions(max_frames=100))
    >>> print(result.summary())
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from transpose_live.pipeline.keypoint_boxes import BoxScheduler
from transpose_live.pipeline.live_display import Window
from transpose_live.pipeline.output import OutputStage, SourceStats
from transpose_live.pipeline.runner import (
    PipelineOptions,
    PipelineResult,
    Progress,
    SourceReport,
    StageTimes,
    Tracker,
    describe_runtime,
    stop_on_signals,
    top_boxes,
)
from transpose_live.pipeline.sources import ENDED, Frame, FrameSource
from transpose_live.poses import Poses


class Overlay(Protocol):
    """Drawn on a source's rendered frames and fed its tracked poses in order (`analytics.live.LiveExercise`)."""

    def update(self, poses: Poses, t: float) -> object: ...

    def draw(self, image, poses: Poses) -> object: ...


@dataclass
class StreamInput:
    """One source of a stream and its own state: writers (per-source sinks, the `writers.Writer`
    protocol), tracker, overlay; the box scheduler and statistics are made by the stream."""

    source: FrameSource
    writers: list = field(default_factory=list)
    tracker: Tracker | None = None
    overlay: Overlay | None = None
    name: str | None = None  # default: the source's name

    def __post_init__(self) -> None:
        self.name = self.name or self.source.name
        self.index = 0
        self.max_frames: int | None = None
        self.scheduler: BoxScheduler | None = None
        self.stats = SourceStats()
        self.frames_in = 0
        self.persons = 0
        self.event_clock = float("-inf")  # the timestamp of the last source event passed on
        self.done = False


@dataclass
class TickItem:
    """One source's part of a tick: its frame (with `timestamp`) and tracked poses (`raw`: as estimated)."""

    source: StreamInput
    frame: Frame
    poses: Poses
    raw: Poses


@dataclass
class Tick:
    """One pass over the sources that had something: frames with poses, and source events (loss,
    reconnection) that came before them, as (StreamInput, SourceEvent)."""

    index: int
    items: list = field(default_factory=list)
    events: list = field(default_factory=list)


class TickSink(Protocol):
    """A cross-source sink: every tick's frames and poses of all sources (`Tick.items`), on its own
    output thread, in order; closed (or aborted) with the writers."""

    def write_tick(self, tick: Tick) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


AfterRun = Callable[[dict], None]  # {source name: [paths its writers published]} -> rewrites them atomically


def frame_stream(inputs: Sequence[StreamInput], estimator, detector: Callable, options: PipelineOptions,
                 times: StageTimes, stop: threading.Event) -> Iterator[Tick]:
    """Ticks until every source has ended or reached `options.max_frames`, or `stop` is set. The
    sources must be started; file sources are waited for, cameras polled (a tick waits briefly
    when no camera has a new frame)."""
    notify = threading.Event()
    for inp in inputs:
        inp.source.notify = notify
    count, want_attention = 0, options.return_attention or options.attention_keypoint is not None
    while not stop.is_set():
        notify.clear()
        tick = Tick(count)
        ticked = _next_frames(inputs, tick)
        if ticked:
            images = [frame.image for _, frame in ticked]
            boxes, scores, fresh = zip(*(_boxes(inp, frame.image, detector, times, options) for inp, frame in ticked))
            with times.time("pose"):
                raws = _estimate(estimator, images, boxes, scores, want_attention)
            for (inp, frame), raw, from_detector in zip(ticked, raws, fresh):
                tick.items.append(TickItem(inp, frame, _track(inp, raw, frame, from_detector, times), raw))
        if tick.items or tick.events:
            count += 1
            yield tick
        if all(inp.done for inp in inputs):
            return
        if not ticked:
            notify.wait(0.05)


def _next_frames(inputs: Sequence[StreamInput], tick: Tick) -> list[tuple[StreamInput, Frame]]:
    """(input, frame) of every source with a frame now; the events before each frame go into the tick
    (a camera without a frame passes all of its events on). A camera frame older than an event already
    passed on is dropped as stale."""
    ticked = []
    for inp in inputs:
        if inp.done:
            continue
        item = inp.source.poll() if inp.source.is_live else inp.source.next_frame()
        if item is ENDED:
            inp.done = True
        elif item is not None and item.timestamp >= inp.event_clock:
            if len(inputs) > 1 or inp.source.is_live:
                item.camera, item.camera_name = inp.index, inp.name
            _take_events(inp, tick, until=item.timestamp)
            ticked.append((inp, item))
            inp.frames_in += 1
            if _limit_reached(inp):
                inp.done = True
            continue
        _take_events(inp, tick)
    return ticked


def _limit_reached(inp: StreamInput) -> bool:
    return inp.max_frames is not None and inp.frames_in >= inp.max_frames


def _take_events(inp: StreamInput, tick: Tick, until: float | None = None) -> None:
    events = getattr(inp.source, "events", None)
    while events and (until is None or events[0].timestamp <= until):
        event = events.popleft()
        inp.event_clock = max(inp.event_clock, event.timestamp)
        tick.events.append((inp, event))


def _boxes(inp: StreamInput, image, detector, times: StageTimes, options: PipelineOptions):
    """(boxes, scores, from_detector) of one frame: the detector's (timed as "detect") or boxes from the
    previous keypoints (`--det-every`, not a detector run), the `max_persons` best kept."""
    t0 = time.perf_counter()
    boxes, scores, from_detector = inp.scheduler.boxes(image, detector)
    if from_detector:
        times.add("detect", time.perf_counter() - t0)
    boxes, scores = top_boxes(boxes, scores, options.max_persons)
    return boxes, scores, from_detector


def _estimate(estimator, images, boxes, scores, want_attention: bool) -> list[Poses]:
    """All the tick's crops through the pose model in one batch (an estimator without `estimate_batch`,
    e.g. a stand-in in a test, frame by frame)."""
    if hasattr(estimator, "estimate_batch"):
        return estimator.estimate_batch(list(images), list(boxes), list(scores), return_attention=want_attention)
    return [estimator.estimate(im, b, box_scores=s, return_attention=want_attention)
            for im, b, s in zip(images, boxes, scores)]


def _track(inp: StreamInput, raw: Poses, frame, from_detector: bool, times: StageTimes) -> Poses:
    """One frame's poses through the source's tracker (timed as "smooth"; the frame's pixels give each
    person an appearance), then shown to its box scheduler."""
    poses = raw
    if inp.tracker is not None:
        with times.time("smooth"):
            poses = inp.tracker.update(raw, frame.timestamp, from_detector=from_detector, image=frame.image)
    inp.scheduler.observe(poses)
    inp.persons += len(poses)
    return poses


def run_stream(inputs: Sequence[StreamInput], estimator, detector: Callable, options: PipelineOptions | None = None,
               *, tick_sinks: Sequence[TickSink] = (), after_run: Sequence[AfterRun] = (),
               console=None) -> PipelineResult:
    """Runs the stream over `inputs` to the end (every source ended or at `options.max_frames`, Ctrl-C,
    SIGTERM, q/Esc in the window, a closed output pipe) and returns the one `PipelineResult`. The
    writers and `tick_sinks` are closed in one order on every exit path (aborted when the run failed),
    the sources closed; then, after a run that went to its end, each `after_run` hook gets the published
    paths per source."""
    run = _Run(list(inputs), estimator, detector, options or PipelineOptions(), console, list(tick_sinks))
    error: BaseException | None = None
    with stop_on_signals(run.stop, run.signals, run.hurry):
        try:
            with run.bar or contextlib.nullcontext():
                run.start()
                for tick in frame_stream(run.inputs, estimator, detector, run.opts, run.times, run.stop):
                    run.output.put(tick)
                    if run.should_stop():
                        run.stop.set()
        except BaseException as exc:
            error = exc
            raise
        finally:
            result = run.finish(error is not None)
    if run.output.error is not None:
        raise run.output.error
    if not run.failed and result.interrupted is None:  # a stopped run ends now, with what it wrote
        published = {inp.name: _published(inp.writers) for inp in run.inputs}
        for hook in after_run:
            hook(published)
    return result


def _published(writers) -> list[Path]:
    return [Path(p) for w in writers for p in [getattr(w, "path", None)] if p is not None]


class _Run:
    """One `run_stream` call's state: timings, stop flags, the output stage, window and progress bar."""

    def __init__(self, inputs: list[StreamInput], estimator, detector, opts: PipelineOptions, console,
                 tick_sinks: list) -> None:
        self.inputs, self.estimator, self.detector, self.opts = inputs, estimator, detector, opts
        self.times, self.stop, self.hurry, self.signals = StageTimes(), threading.Event(), threading.Event(), []
        for i, inp in enumerate(inputs):
            inp.index, inp.max_frames = i, opts.max_frames
            inp.scheduler = BoxScheduler(opts.det_every, opts.kpt_thr)
        self.window = Window(len(inputs)) if opts.show else None
        files = [inp.source for inp in inputs if not inp.source.is_live]
        self.bar = Progress([inp.source for inp in inputs], opts.max_frames, console) \
            if opts.progress and files else None
        self.output = OutputStage(inputs, tick_sinks, self.times, opts, getattr(estimator, "keypoints", None),
                                  (self.window, self.bar, self.hurry))
        self.failed = False
        self.t_start = time.perf_counter()

    def start(self) -> None:
        if any(inp.source.is_live for inp in self.inputs):  # cameras are read only once the models are warm
            warm_up(self.estimator, self.detector, self.inputs[0].source)
        self.output.start()
        for inp in self.inputs:
            inp.source.start()
        self.t_start = time.perf_counter()

    def should_stop(self) -> bool:
        return (self.window is not None and self.window.show()) or self.output.error is not None \
            or self.output.ended

    def finish(self, failed: bool) -> PipelineResult:
        """Closes the sources, drains the outputs (events last), closes (or aborts) every writer and
        tick sink in one order, and fills in the result."""
        for inp in self.inputs:
            inp.source.close()
        tail = Tick(-1)
        for inp in self.inputs:
            _take_events(inp, tail)
        if tail.events:
            self.output.put(tail)
        try:
            self.failed = self.output.finish(failed)
        finally:
            if self.bar is not None:
                self.bar.close()  # after the output thread's last advance: the bar ends at N/N
        if self.window is not None:
            self.window.close()
        return self._result()

    def _result(self) -> PipelineResult:
        times, result = self.times, PipelineResult()
        result.wall_seconds = time.perf_counter() - self.t_start
        for inp in self.inputs:
            src = inp.source
            times.add("read", src.decode_seconds, src.decoded)
            result.frames += inp.frames_in
            result.persons += inp.persons
            result.dropped += src.dropped
            result.skipped += list(getattr(src, "skipped", []))
            where = f"camera {inp.name}: " if len(self.inputs) > 1 or src.is_live else ""
            result.warnings += [f"{where}{w}" for w in src.warnings]
            result.sources.append(_report(inp))
        result.whole_frame = getattr(self.detector, "name", None) == "none"
        if result.whole_frame:  # --detector none: no detector ran, so no "detect" stage
            times.seconds["detect"], times.calls["detect"] = 0.0, 0
        result.stage_seconds, result.stage_calls = dict(times.seconds), dict(times.calls)
        result.detector_runs = times.calls["detect"]
        result.interrupted = self.signals[0] if self.signals else None
        result.pose_runtime = describe_runtime(self.estimator)
        return result


def _report(inp: StreamInput) -> SourceReport:
    src, stats = inp.source, inp.stats
    return SourceReport(inp.index, inp.name, inp.frames_in, inp.persons, stats.fps, stats.latency_ms(50),
                        stats.latency_ms(95), getattr(src, "outages", 0), getattr(src, "downtime", 0.0), src.dropped,
                        getattr(src, "lost", False), src.is_live)


def run_pipeline(source, estimator, detector: Callable, *, tracker: Tracker | None = None,
                 writers: Sequence = (), options: PipelineOptions | None = None, console=None,
                 overlay=None, **settings) -> PipelineResult:
    """One source through the frame stream (`stream.run_stream`); returns its `PipelineResult`.

    estimator: a `PoseEstimator` (anything with `estimate(frame, boxes, box_scores=, return_attention=)`
    -> Poses). detector: frame -> (boxes (N,4) xyxy, scores (N,)). tracker: a `Tracker` or None.
    writers: opened `Writer`s (writers.py), closed at the end (also on Ctrl-C / SIGTERM) or aborted when
    the run fails. options: `PipelineOptions` (or its fields as keywords). overlay: `stream.Overlay`
    (e.g. `analytics.live.LiveExercise`, --exercise). The source is closed."""
    if options is not None and settings:
        raise TypeError(f"run_pipeline: pass options= or its fields ({', '.join(settings)}), not both")
    opts = options or PipelineOptions(**settings)
    run = StreamInput(source, list(writers), tracker, overlay)
    return run_stream([run], estimator, detector, opts, console=console)


def warm_up(estimator, detector, source) -> None:
    """One untimed detector call and pose estimate on a blank frame of the source's size, so start-up
    costs stay out of the timings and a live source is not read while the models initialise."""
    w, h = source.size if source.size and source.size[0] > 0 else (640, 480)
    blank = np.zeros((h, w, 3), np.uint8)
    detector(blank)
    estimator.estimate(blank, np.array([[0, 0, w, h]], np.float32))
