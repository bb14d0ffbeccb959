"""The one pipeline behind `webcam`, `video`, `image` (and `bench --pipeline`).

Stages overlap in three threads joined by bounded queues:
  capture thread  : read (the source's own thread; live sources keep only the newest frame)
  calling thread  : detect (or boxes from the previous keypoints) -> pose -> smooth/track
  output thread   : render -> encode (the writers) and the progress bar

    >>> from transpose_live.pipeline import run_pipeline, open_video, build_detector
    >>> result = run_pipeline(open_video("in.mp4"), estimator, build_detector("yolo", device="cpu"),
    ...                       writers=[JsonlWriter("out.jsonl")], options=PipelineOptions(progress=False))
    >>> result.stage_fps()      # {'read': 310.2, 'detect': 21.0, 'pose': 9.8, ...}
    >>> result.summary()        # the one-line summary printed by the CLI

Ctrl-C / SIGTERM (when run from the main thread) stop after the frame in flight; the writers are
closed properly and `PipelineResult.interrupted` holds the signal number.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from transpose_live.config import RunConfig
from transpose_live.pipeline.blur import blur_mode
from transpose_live.pipeline.keypoint_boxes import BoxScheduler
from transpose_live.pipeline.render import Hud, render_frame
from transpose_live.pipeline.sources import Frame, FrameSource
from transpose_live.pipeline.writers import Writer, close_writers
from transpose_live.poses import Poses

# "read" is video/image decoding in the capture thread; heatmap decoding is part of "pose".
STAGES = ("read", "detect", "pose", "smooth", "render", "encode")
_DONE = object()


class EndOfOutput(Exception):
    """Raised by a writer whose reader went away (a closed pipe): the run ends as at the end of the input."""


class Tracker(Protocol):
    """What the pipeline needs of a tracker (`transpose_live.tracking.PoseTracker`)."""

    def update(self, poses: Poses, t: float, from_detector: bool = True) -> Poses: ...


class StageTimes:
    """Thread-safe per-stage totals: seconds and number of calls."""

    def __init__(self) -> None:
        self.seconds = {s: 0.0 for s in STAGES}
        self.calls = {s: 0 for s in STAGES}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, calls: int = 1) -> None:
        with self._lock:
            self.seconds[stage] += seconds
            self.calls[stage] += calls

    @contextlib.contextmanager
    def time(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)


@dataclass
class PipelineResult:
    """What a run did. `stage_seconds` / `stage_calls` are totals per stage (read, detect, pose
    = crop + model + heatmap decoding, smooth, render, encode); stages that never ran have 0 calls."""

    frames: int = 0
    persons: int = 0
    wall_seconds: float = 0.0
    dropped: int = 0
    detector_runs: int = 0
    stage_seconds: dict = field(default_factory=dict)
    stage_calls: dict = field(default_factory=dict)
    interrupted: int | None = None
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # the source's: decode errors, early end (with frame indices)
    whole_frame: bool = False  # --detector none: every frame is one person, no detector stage
    pose_runtime: str = ""  # what ran the pose model, e.g. "tp_r_a3 bf16 on openvino"

    def stage_fps(self) -> dict[str, float]:
        """Calls per second of busy time, per stage that ran."""
        return {s: self.stage_calls[s] / self.stage_seconds[s]
                for s in STAGES if self.stage_calls.get(s) and self.stage_seconds.get(s, 0) > 0}

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per call, per stage that ran."""
        return {s: 1000 * self.stage_seconds[s] / self.stage_calls[s] for s in STAGES if self.stage_calls.get(s)}

    @property
    def fps(self) -> float:
        """End-to-end frames per second (wall clock)."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> str:
        parts = [f"{self.frames} frame{'s' * (self.frames != 1)}", f"{self.persons} person{'s' * (self.persons != 1)}",
                 f"{self.fps:.1f} fps end-to-end"] + ([self.pose_runtime] if self.pose_runtime else [])
        if self.detector_runs < self.frames and not self.whole_frame:
            parts.append(f"detector on {self.detector_runs} frames")
        if self.dropped:
            parts.append(f"{self.dropped} stale frames dropped")
        warned = len(self.warnings) + len(self.skipped)  # skipped unreadable images are warnings too
        if warned:
            parts.append(f"{warned} warning{'s' * (warned != 1)}")
        per_stage = ", ".join(f"{s} {v:.1f}" for s, v in self.stage_fps().items())
        return " | ".join(parts) + (f" | stage fps: {per_stage}" if per_stage else "")


def describe_runtime(estimator) -> str:
    """"tp_r_a3 bf16 on openvino": the pose model, the precision and the runtime that actually ran."""
    spec = getattr(estimator, "spec", None)
    if spec is None:
        return ""
    return f"{spec.name} {getattr(estimator, 'precision', 'fp32')} on {getattr(estimator, 'backend', 'torch')}"


def top_boxes(boxes: np.ndarray, scores: np.ndarray, max_persons: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The `max_persons` highest-scoring boxes (all when None)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if max_persons is not None and len(boxes) > max_persons:
        keep = np.argsort(-scores, kind="stable")[: max(0, max_persons)]
        boxes, scores = boxes[keep], scores[keep]
    return boxes, scores


def frame_boxes(scheduler: BoxScheduler, image: np.ndarray, detector, times: StageTimes,
                max_persons: int | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(boxes, scores, from_detector) of one frame: the detector's (timed as "detect") or boxes from the
    previous keypoints (`--det-every`, not a detector run), the `max_persons` best kept."""
    t0 = time.perf_counter()
    boxes, scores, from_detector = scheduler.boxes(image, detector)
    if from_detector:  # frames boxed from the previous keypoints are not detector runs
        times.add("detect", time.perf_counter() - t0)
    boxes, scores = top_boxes(boxes, scores, max_persons)
    return boxes, scores, from_detector


def track_poses(tracker, scheduler: BoxScheduler, raw: Poses, timestamp: float, from_detector: bool,
                times: StageTimes) -> Poses:
    """One frame's poses through the tracker (timed as "smooth"; as estimated without one), then shown to
    the box scheduler for the next frame's keypoint boxes."""
    poses = raw
    if tracker is not None:
        with times.time("smooth"):
            poses = tracker.update(raw, timestamp, from_detector=from_detector)
    scheduler.observe(poses)
    return poses


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, record: list, second_ctrl_c_raises: bool = True):
    """In the main thread: SIGINT/SIGTERM set `stop` and are recorded; a second Ctrl-C raises
    KeyboardInterrupt when `second_ctrl_c_raises` (the writers are still closed by the caller's `finally`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        first = not record
        record.append(signum)
        stop.set()
        if second_ctrl_c_raises and not first and signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Progress:
    """A rich progress bar over the frames of a file source (nothing for live sources)."""

    def __init__(self, source: FrameSource, max_frames: int | None, console) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        total = source.frame_count
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]} frames/s"), TimeRemainingColumn(),
            console=console or Console(stderr=True), transient=False,
        )
        self._task = self._bar.add_task(source.name, total=total, fps="-")
        self._done = 0
        self._t0 = time.perf_counter()

    def __enter__(self) -> "Progress":
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def advance(self) -> None:
        self._done += 1
        rate = self._done / max(time.perf_counter() - self._t0, 1e-6)
        self._bar.update(self._task, advance=1, fps=f"{rate:.1f}")


class Display:
    """The `--show` window: the output thread offers frames, the calling thread shows the newest
    (OpenCV windows belong to one thread). `show()` is True when q or Esc was pressed."""

    def __init__(self) -> None:
        self._latest: np.ndarray | None = None

    def offer(self, image: np.ndarray) -> None:
        self._latest = image

    def show(self) -> bool:
        image, self._latest = self._latest, None
        if image is None:
            return False
        import cv2

        from transpose_live.pipeline.live_display import screen_size, tile

        cv2.imshow("transpose-live", tile([image], screen_size()))  # scaled to fit: portrait frames whole
        return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)

    def close(self) -> None:
        import cv2

        with contextlib.suppress(Exception):
            cv2.destroyAllWindows()


class OutputStage:
    """The output thread: render (when a writer or the display needs the image) -> every writer."""

    def __init__(self, writers: Sequence[Writer], times: StageTimes, kpt_thr: float, attention_keypoint: int | None,
                 hud: Hud | None, display: Display | None, progress: Progress | None, queue_size: int,
                 keypoints=None, overlay=None) -> None:
        self.writers, self.times, self.display, self.progress = list(writers), times, display, progress
        self.blur = "none"  # --blur, resolved (PipelineOptions.blur, pipeline/blur.py): applied by render_frame
        self.keypoints = keypoints  # the model's keypoint set: the skeleton drawn
        self.kpt_thr, self.attention_keypoint, self.hud = kpt_thr, attention_keypoint, hud
        self.overlay = overlay  # e.g. analytics.live.LiveExercise: update(poses, t) per frame, draw(image, poses)
        self.need_image = display is not None or any(w.needs_image for w in self.writers)
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.ended = False  # a writer's reader went away (EndOfOutput): stop as at the end of the input
        self._thread = threading.Thread(target=self._loop, name="render-encode", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, item) -> None:
        """Blocks while the queue is full (back-pressure), unless the thread has died."""
        while True:
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    return

    def finish(self) -> None:
        """Lets the thread drain the queue and stop."""
        if self._thread.is_alive():
            self.put(_DONE)
            self._thread.join()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not _DONE:
            if self.error is None and not self.ended:
                try:
                    self._emit(*item)
                except EndOfOutput:
                    self.ended = True
                except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                    self.error = exc

    def _emit(self, frame: Frame, poses: Poses, raw: Poses) -> None:
        image = None
        if self.overlay is not None:
            self.overlay.update(poses, frame.timestamp)
        if self.need_image:
            with self.times.time("render"):
                image = render_frame(frame.image, poses, self.kpt_thr, attention_keypoint=self.attention_keypoint,
                                     attention_from=raw, hud=self.hud.lines(frame, poses) if self.hud else None,
                                     keypoints=self.keypoints, blur=self.blur)
                if self.overlay is not None:
                    self.overlay.draw(image, poses)
        if self.writers:
            with self.times.time("encode"):
                for writer in self.writers:
                    writer.write(frame, poses, image)
        if self.display is not None:
            self.display.offer(image)
        if self.progress is not None:
            self.progress.advance()


@dataclass(frozen=True)
class PipelineOptions:
    """How `run_pipeline` runs: box scheduling, drawing, window, progress bar, frame limit. The run
    options' defaults are RunConfig's (`from_config` takes a whole RunConfig)."""

    det_every: int = RunConfig.det_every
    kpt_thr: float = RunConfig.kpt_thr
    max_persons: int | None = RunConfig.max_persons
    attention_keypoint: int | None = None  # an index into the estimator's keypoint set
    show: bool = False
    hud: bool = RunConfig.hud
    progress: bool = RunConfig.progress
    max_frames: int | None = None
    queue_size: int = 4
    blur: str = "none"  # faces, people or none (pipeline/blur.py; `blur_mode(cfg)` resolves --blur auto)

    @classmethod
    def from_config(cls, cfg: RunConfig, **values) -> "PipelineOptions":
        base = dict(det_every=cfg.det_every, kpt_thr=cfg.kpt_thr, max_persons=cfg.max_persons, hud=cfg.hud,
                    progress=cfg.progress, blur=blur_mode(cfg))
        return cls(**{**base, **values})


def run_pipeline(source: FrameSource, estimator, detector: Callable, *, tracker: Tracker | None = None,
                 writers: Sequence[Writer] = (), options: PipelineOptions | None = None, console=None,
                 overlay=None, **settings) -> PipelineResult:
    """Runs the whole chain over `source` and returns a `PipelineResult` (per-stage timings).

    estimator: a `PoseEstimator` (anything with `estimate(frame, boxes, box_scores=,
    return_attention=)` -> Poses). detector: frame -> (boxes (N,4) xyxy, scores (N,)).
    tracker: a `Tracker` (e.g. `PoseTracker("one-euro")`) or None; `from_detector` is False on frames
    boxed from the previous keypoints (--det-every). writers: opened `Writer`s (see writers.py);
    they are closed at the end (also on Ctrl-C / SIGTERM), or aborted when the run fails.
    options: `PipelineOptions` (or its fields as keywords, `settings`). overlay: an object fed every frame's
    tracked poses and time in order (`update(poses, t)`) that draws on rendered frames (`draw(image, poses)`),
    e.g. `analytics.live.LiveExercise` (--exercise). Live sources start only
    after the detector and the pose model have warmed up. The source is closed.
    """
    if options is not None and settings:
        raise TypeError(f"run_pipeline: pass options= or its fields ({', '.join(settings)}), not both")
    opts = options or PipelineOptions(**settings)
    run = _Run(source, writers, opts, console, getattr(estimator, "keypoints", None), overlay)
    run.result.pose_runtime = describe_runtime(estimator)
    error: BaseException | None = None
    try:
        with stop_on_signals(run.stop, run.signals), run.bar or contextlib.nullcontext():
            if source.is_live:
                warm_up(estimator, detector, source)
            run.output.start()
            run.loop(estimator, detector, tracker)
    except KeyboardInterrupt:  # a second Ctrl-C: stop now, but keep what was written
        raise
    except BaseException as exc:
        error = exc
        raise
    finally:
        run.finish(failed=error is not None, whole_frame=getattr(detector, "name", None) == "none")
    if run.output.error is not None:
        raise run.output.error
    return run.result


class _Run:
    """One `run_pipeline` call's state: timings, result, stop flag, output thread, window, progress bar."""

    def __init__(self, source: FrameSource, writers, opts: PipelineOptions, console, keypoints, overlay=None) -> None:
        self.source, self.writers, self.opts = source, list(writers), opts
        self.times, self.result, self.stop, self.signals = StageTimes(), PipelineResult(), threading.Event(), []
        self.scheduler = BoxScheduler(opts.det_every, opts.kpt_thr)
        self.display = Display() if opts.show else None
        self.bar = Progress(source, opts.max_frames, console) if opts.progress and not source.is_live else None
        self.output = OutputStage(self.writers, self.times, opts.kpt_thr, opts.attention_keypoint,
                                  Hud() if opts.hud else None, self.display, self.bar, opts.queue_size, keypoints,
                                  overlay)
        self.output.blur = opts.blur
        self.t_start = time.perf_counter()

    def loop(self, estimator, detector, tracker) -> None:
        """detect (or keypoint boxes) -> pose -> track, frame after frame, until the end or a stop."""
        want_attention, times, result = self.opts.attention_keypoint is not None, self.times, self.result
        for frame in self.source.start():
            boxes, scores, from_detector = frame_boxes(self.scheduler, frame.image, detector, times,
                                                       self.opts.max_persons)
            with times.time("pose"):
                raw = estimator.estimate(frame.image, boxes, box_scores=scores, return_attention=want_attention)
            poses = track_poses(tracker, self.scheduler, raw, frame.timestamp, from_detector, times)
            result.frames += 1
            result.persons += len(poses)
            self.output.put((frame, poses, raw))
            if (self.display is not None and self.display.show()) or self.output.error or self.output.ended:
                self.stop.set()
            if self.stop.is_set() or (self.opts.max_frames is not None and result.frames >= self.opts.max_frames):
                break

    def finish(self, failed: bool, whole_frame: bool) -> None:
        """Closes (or, after a failure, aborts) the writers and fills in the result."""
        source, result, times = self.source, self.result, self.times
        source.close()
        self.output.finish()
        failed = failed or self.output.error is not None
        close_writers(self.writers, failed)
        if self.display is not None:
            self.display.close()
        result.wall_seconds = time.perf_counter() - self.t_start
        times.add("read", source.decode_seconds, source.decoded)
        if whole_frame:  # --detector none: no detector ran, so no "detect" stage
            times.seconds["detect"], times.calls["detect"] = 0.0, 0
        result.stage_seconds, result.stage_calls = dict(times.seconds), dict(times.calls)
        result.detector_runs = times.calls["detect"]
        result.whole_frame = whole_frame
        result.dropped = source.dropped
        result.interrupted = self.signals[0] if self.signals else None
        result.skipped = list(getattr(source, "skipped", []))
        result.warnings = list(source.warnings)


def warm_up(estimator, detector, source: FrameSource) -> None:
    """One untimed detector call and pose estimate on a blank frame of the source's size, so start-up
    costs stay out of the timings and a live source is not read while the models initialise."""
    w, h = source.size if source.size and source.size[0] > 0 else (640, 480)
    blank = np.zeros((h, w, 3), np.uint8)
    detector(blank)
    estimator.estimate(blank, np.array([[0, 0, w, h]], np.float32))
