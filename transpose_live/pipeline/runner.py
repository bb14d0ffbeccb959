"""The one pipeline behind `webcam`, `video`, `image` (and `bench --pipeline`).

Stages overlap in three threads joined by bounded queues:
  capture thread  : decode (the source's own thread; live sources keep only the newest frame)
  calling thread  : detect (or boxes from the previous keypoints) -> pose -> smooth/track
  output thread   : render -> encode (mp4 / JSONL / images / COCO) and the progress bar

    >>> from transpose_live.pipeline import run_pipeline, open_video, build_detector
    >>> result = run_pipeline(open_video("in.mp4"), estimator, build_detector("yolo", device="cpu"),
    ...                       video_out="out.mp4", json_out="out.jsonl", progress=False)
    >>> result.stage_fps()      # {'decode': 310.2, 'detect': 21.0, 'pose': 9.8, ...}
    >>> result.stage_ms()       # mean milliseconds per call of each stage
    >>> result.summary()        # the one-line summary printed by the CLI

Ctrl-C / SIGTERM (when run from the main thread) stop after the frame in flight; outputs are
closed properly and `PipelineResult.interrupted` holds the signal number.
"""

from __future__ import annotations

import contextlib
import inspect
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from transpose_live.pipeline.csv_writer import CsvWriter
from transpose_live.pipeline.keypoint_boxes import BoxScheduler
from transpose_live.pipeline.render import draw_attention, draw_hud, draw_poses
from transpose_live.pipeline.sources import Frame, FrameSource, to_bgr
from transpose_live.pipeline.writers import CocoResultsWriter, ImageDirWriter, JsonlWriter, VideoWriter
from transpose_live.poses import Poses

STAGES = ("decode", "detect", "pose", "smooth", "render", "encode")
_DONE = object()


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
    """What a run did. `stage_seconds` / `stage_calls` are totals per stage (decode, detect, pose
    = crop + model + decode, smooth, render, encode); stages that never ran have 0 calls."""

    frames: int = 0
    persons: int = 0
    wall_seconds: float = 0.0
    dropped: int = 0
    detector_runs: int = 0
    stage_seconds: dict = field(default_factory=dict)
    stage_calls: dict = field(default_factory=dict)
    interrupted: int | None = None
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # the source's: decode errors, early end (frame index)

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
        parts = [f"{self.frames} frames", f"{self.persons} persons", f"{self.fps:.1f} fps end-to-end"]
        if self.detector_runs < self.frames:
            parts.append(f"detector on {self.detector_runs} frames")
        if self.dropped:
            parts.append(f"{self.dropped} stale frames dropped")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}")
        per_stage = ", ".join(f"{s} {v:.1f}" for s, v in self.stage_fps().items())
        return " | ".join(parts) + (f" | stage fps: {per_stage}" if per_stage else "")


def make_tracker(smooth: str = "one-euro", max_missed: int = 30):
    """`transpose_live.tracking.PoseTracker` when that package is installed, else None."""
    try:
        from transpose_live.tracking import PoseTracker
    except ImportError:
        return None
    return PoseTracker(smooth=smooth, max_missed=max_missed)


def top_boxes(boxes: np.ndarray, scores: np.ndarray, max_persons: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The `max_persons` highest-scoring boxes (all when None)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if max_persons is not None and len(boxes) > max_persons:
        keep = np.argsort(-scores, kind="stable")[: max(0, max_persons)]
        boxes, scores = boxes[keep], scores[keep]
    return boxes, scores


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, record: list):
    """In the main thread: SIGINT/SIGTERM set `stop` (a second Ctrl-C raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        record.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_pipeline(
    source: FrameSource,
    estimator,
    detector: Callable,
    *,
    tracker=None,
    det_every: int = 1,
    kpt_thr: float = 0.3,
    max_persons: int | None = None,
    attention_keypoint: int | None = None,
    video_out: str | Path | None = None,
    json_out: str | Path | None = None,
    image_dir: str | Path | None = None,
    coco_out: str | Path | None = None,
    csv_out: str | Path | None = None,
    video_options=None,
    on_result: Callable[[Frame, Poses], None] | None = None,
    show: bool = False,
    hud: bool = True,
    progress: bool = True,
    max_frames: int | None = None,
    console=None,
    queue_size: int = 4,
) -> PipelineResult:
    """Runs the whole chain over `source` and returns a `PipelineResult` (per-stage timings).

    estimator: a `PoseEstimator` (anything with `estimate(frame, boxes, box_scores=,
    return_attention=)` -> Poses). detector: frame -> (boxes (N,4) xyxy, scores (N,)).
    tracker: anything with `update(poses, t[, from_detector]) -> Poses` (e.g. `make_tracker("one-euro")`),
    or None; `from_detector` is False on frames boxed from the previous keypoints (--det-every).
    csv_out: one CSV row per person per frame. video_options: `transpose_live.media.EncodeOptions`
    (codec, crf, sound) for `video_out`; the source's `audio` is carried over.
    Outputs are opened before the first frame (UserError if a path cannot be written) and are
    always closed, leaving valid files. The source is closed at the end; its `warnings` (decode
    errors, early end) are in `PipelineResult.warnings`.
    """
    times = StageTimes()
    result = PipelineResult()
    stop = threading.Event()
    signals: list[int] = []
    writers = _open_writers(source, video_out, json_out, image_dir, coco_out, csv_out, video_options)
    need_render = show or bool(writers.get("video") or writers.get("images"))
    out_q: queue.Queue = queue.Queue(maxsize=queue_size)
    display: list = [None]
    errors: list[BaseException] = []
    bar = _progress(source, max_frames, console) if progress and not source.is_live else None
    scheduler = BoxScheduler(det_every, kpt_thr)
    state = {"fps": 0.0, "last": None}
    tells_source = tracker is not None and "from_detector" in inspect.signature(tracker.update).parameters

    def output_loop() -> None:
        done = 0
        while True:
            item = out_q.get()
            if item is _DONE:
                return
            if errors:
                continue  # drain after a failure
            frame, poses, raw = item
            try:
                if need_render:
                    with times.time("render"):
                        image = _render(frame, poses, raw, kpt_thr, attention_keypoint, state, hud)
                else:
                    image = None
                with times.time("encode") if writers else contextlib.nullcontext():
                    if "video" in writers:
                        writers["video"].write(frame, poses, image)
                    if "images" in writers:
                        writers["images"].write(image, frame.name, frame.index)
                    if "json" in writers:
                        writers["json"].write(frame.index, frame.timestamp, poses, frame.name)
                    if "coco" in writers:
                        writers["coco"].write(poses, frame.name, frame.index)
                    if "csv" in writers:
                        writers["csv"].write(frame, poses, image)
                if on_result is not None:
                    on_result(frame, poses)
                if show:
                    display[0] = image
                done += 1
                if bar is not None:
                    rate = done / max(time.perf_counter() - t_start, 1e-6)
                    bar[0].update(bar[1], advance=1, fps=f"{rate:.1f}")
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)
                stop.set()

    worker = threading.Thread(target=output_loop, name="render-encode", daemon=True)
    t_start = time.perf_counter()
    try:
        with stop_on_signals(stop, signals):
            if bar is not None:
                bar[0].start()
            worker.start()
            source.start()
            for frame in source:
                if stop.is_set():
                    break
                image = frame.image
                t0 = time.perf_counter()
                boxes, scores, ran = scheduler.boxes(image, detector)
                if ran:  # frames boxed from the previous keypoints are not detector runs
                    times.add("detect", time.perf_counter() - t0)
                boxes, scores = top_boxes(boxes, scores, max_persons)
                with times.time("pose"):
                    raw = estimator.estimate(image, boxes, box_scores=scores,
                                             return_attention=attention_keypoint is not None)
                poses = raw
                if tracker is not None:
                    with times.time("smooth"):
                        poses = (tracker.update(raw, frame.timestamp, from_detector=ran) if tells_source
                                 else tracker.update(raw, frame.timestamp))
                scheduler.observe(poses)
                result.frames += 1
                result.persons += len(poses)
                _put(out_q, (frame, poses, raw), worker)
                if show and display[0] is not None:
                    image, display[0] = display[0], None
                    if _show(image):
                        stop.set()
                if max_frames is not None and result.frames >= max_frames:
                    break
                if stop.is_set():
                    break
    finally:
        source.close()
        _put(out_q, _DONE, worker)
        worker.join()
        if bar is not None:
            bar[0].stop()
        for w in writers.values():
            w.close()
        if show:
            _close_windows()
        result.wall_seconds = time.perf_counter() - t_start
        times.add("decode", source.decode_seconds, source.decoded)
        result.stage_seconds = dict(times.seconds)
        result.stage_calls = dict(times.calls)
        result.detector_runs = times.calls["detect"]
        result.dropped = source.dropped
        result.interrupted = signals[0] if signals else None
        result.skipped = list(getattr(source, "skipped", []))
        result.warnings = list(getattr(source, "warnings", []))
    if errors:
        raise errors[0]
    return result


def _put(q: queue.Queue, item, worker: threading.Thread) -> None:
    while True:
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if not worker.is_alive():
                return


def _open_writers(source, video_out, json_out, image_dir, coco_out, csv_out=None, video_options=None) -> dict:
    writers: dict = {}
    try:
        if json_out:
            writers["json"] = JsonlWriter(json_out)
        if coco_out:
            writers["coco"] = CocoResultsWriter(coco_out)
        if image_dir:
            writers["images"] = ImageDirWriter(image_dir)
        if csv_out:
            writers["csv"] = CsvWriter(csv_out)
        if video_out:
            writers["video"] = VideoWriter(video_out, source.fps, source.size, video_options, source.audio)
    except BaseException:
        for w in writers.values():
            w.close()
        raise
    return writers


def _render(frame: Frame, poses: Poses, raw: Poses, kpt_thr: float, attention_keypoint, state: dict,
            hud: bool) -> np.ndarray:
    image = to_bgr(frame.image).copy()
    if attention_keypoint is not None:
        draw_attention(image, raw, attention_keypoint)
    draw_poses(image, poses, kpt_thr)
    if hud:
        now = time.perf_counter()
        if state["last"] is not None:
            dt = max(now - state["last"], 1e-6)
            state["fps"] = 1 / dt if state["fps"] == 0 else 0.9 * state["fps"] + 0.1 / dt
        state["last"] = now
        latency_ms = 1000 * (now - frame.captured_at)
        draw_hud(image, [f"{state['fps']:.1f} FPS  {latency_ms:.0f} ms", f"{len(poses)} persons"])
    return image


def _progress(source: FrameSource, max_frames: int | None, console):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = source.frame_count
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[fps]} frames/s"), TimeRemainingColumn(),
        console=console or Console(stderr=True), transient=False,
    )
    task = progress.add_task(source.name, total=total, fps="-")
    return progress, task


def _show(image: np.ndarray) -> bool:
    """Shows a frame; True when q or Esc was pressed."""
    import cv2

    cv2.imshow("transpose-live", image)
    key = cv2.waitKey(1) & 0xFF
    return key in (ord("q"), 27)


def _close_windows() -> None:
    import cv2

    with contextlib.suppress(Exception):
        cv2.destroyAllWindows()
