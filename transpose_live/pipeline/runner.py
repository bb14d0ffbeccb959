"""What a run is given and gives back: `PipelineOptions`, `PipelineResult` (one per run, with one
`SourceReport` per source), stage timings, the signal handling and the progress bar of the frame
stream (`pipeline/stream.py`, whose `run_pipeline` runs one source).

    >>> from transpose_live.pipeline import run_pipeline, open_video, build_detector
    >>> result = run_pipeline(open_video("in.mp4"), estimator, build_detector("yolo", device="cpu"),
    ...                       writers=[JsonlWriter("out.jsonl")], options=PipelineOptions(progress=False))
    >>> result.stage_fps()      # {'read': 310.2, 'detect': 21.0, 'pose': 9.8, ...}
    >>> result.summary()        # the one-line summary printed by the CLI

Ctrl-C / SIGTERM (when run from the main thread) stop after the frame in flight; the writers are
closed properly and `PipelineResult.interrupted` holds the signal number. A second signal skips the
frames still queued for the outputs and closes them at once: a close in progress always finishes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from transpose_live.config import RunConfig
from transpose_live.pipeline.blur import blur_mode
from transpose_live.poses import Poses

# "read" is video/image decoding in the capture thread; heatmap decoding is part of "pose".
STAGES = ("read", "detect", "pose", "smooth", "render", "encode")


class EndOfOutput(Exception):
    """Raised by a writer whose reader went away (a closed pipe): the run ends as at the end of the input."""


class Tracker(Protocol):
    """What the stream needs of a tracker (`transpose_live.tracking.PoseTracker`)."""

    def update(self, poses: Poses, t: float, from_detector: bool = True, image: np.ndarray | None = None) -> Poses: ...


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
class SourceReport:
    """One source's statistics: frames processed, persons, the fps and capture->output latency at the
    outputs, and for cameras their outages, downtime and whether the camera was lost for good."""

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
    live: bool = False

    def line(self) -> str:
        label = ("camera " if self.live else "source ") + str(self.index)
        label += f" ({self.name})" if self.name != str(self.index) else ""
        text = (f"{label}: {self.frames} frames, {self.fps:.1f} fps, "
                f"latency p50 {self.latency_p50_ms:.0f} ms p95 {self.latency_p95_ms:.0f} ms")
        if self.outages:
            text += f", {self.outages} outage{'s' * (self.outages != 1)}, {self.downtime:.1f} s down"
        return text + (", lost" if self.lost else "")


@dataclass
class PipelineResult:
    """What a run did, over all its sources. `stage_seconds` / `stage_calls` are totals per stage (read,
    detect, pose = crop + model + heatmap decoding, smooth, render, encode); stages that never ran have 0
    calls. `sources`: one `SourceReport` each (their lines join the summary for cameras and several sources)."""

    frames: int = 0
    persons: int = 0
    wall_seconds: float = 0.0
    dropped: int = 0
    detector_runs: int = 0
    stage_seconds: dict = field(default_factory=dict)
    stage_calls: dict = field(default_factory=dict)
    interrupted: int | None = None
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # the sources': decode errors, early end (with frame indices)
    whole_frame: bool = False  # --detector none: every frame is one person, no detector stage
    pose_runtime: str = ""  # what ran the pose model, e.g. "tp_r_a3 bf16 on openvino"
    sources: list = field(default_factory=list)  # SourceReport per source

    def stage_fps(self) -> dict[str, float]:
        """Calls per second of busy time, per stage that ran."""
        return {s: self.stage_calls[s] / self.stage_seconds[s]
                for s in STAGES if self.stage_calls.get(s) and self.stage_seconds.get(s, 0) > 0}

    @property
    def fps(self) -> float:
        """End-to-end frames per second (wall clock)."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def outages(self) -> int:
        return sum(s.outages for s in self.sources)

    @property
    def downtime(self) -> float:
        return sum(s.downtime for s in self.sources)

    @property
    def all_lost(self) -> bool:
        """Every source was a camera lost for good (the run's exit code is then 1)."""
        return bool(self.sources) and all(s.lost for s in self.sources)

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
        line = " | ".join(parts) + (f" | stage fps: {per_stage}" if per_stage else "")
        several = len(self.sources) > 1 or any(s.live for s in self.sources)
        return "\n".join([line, *(s.line() for s in self.sources)]) if several else line


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


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, record: list, hurry: threading.Event | None = None):
    """In the main thread: SIGINT/SIGTERM set `stop` and are recorded; a later one sets `hurry` (the
    outputs skip their queued frames and close now). No signal raises, so a close in progress always
    finishes; the previous handlers are back when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        if record and hurry is not None:
            hurry.set()
        record.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Progress:
    """A rich progress bar per file source (nothing for live sources)."""

    def __init__(self, sources: Sequence, max_frames: int | None, console) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]} frames/s"), TimeRemainingColumn(),
            console=console or Console(stderr=True), transient=False,
        )
        self._tasks = {}
        for i, source in enumerate(sources):
            if source.is_live:
                continue
            total = source.frame_count
            if max_frames is not None:
                total = min(total, max_frames) if total else max_frames
            self._tasks[i] = [self._bar.add_task(source.name, total=total, fps="-"), 0]
        self._t0 = time.perf_counter()

    def __enter__(self) -> "Progress":
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        pass  # stopped by close(), once the output thread has written (and counted) the last frame

    def close(self) -> None:
        """Stops the bar, showing the frames done (N/N for a whole file)."""
        self._bar.stop()

    def advance(self, index: int) -> None:
        task = self._tasks.get(index)
        if task is None:
            return
        task[1] += 1
        rate = task[1] / max(time.perf_counter() - self._t0, 1e-6)
        self._bar.update(task[0], advance=1, fps=f"{rate:.1f}")


@dataclass(frozen=True)
class PipelineOptions:
    """How a run goes: box scheduling, drawing, window, progress bar, frame limit (per source). The run
    options' defaults are RunConfig's (`from_config` takes a whole RunConfig)."""

    det_every: int = RunConfig.det_every
    kpt_thr: float = RunConfig.kpt_thr
    max_persons: int | None = RunConfig.max_persons
    attention_keypoint: int | None = None  # an index into the estimator's keypoint set
    return_attention: bool = False  # poses carry their attention rows (`explain`; implied by attention_keypoint)
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
