"""The output stage of the frame stream: one thread per source (render when a sink needs pixels ->
overlay -> the source's writers -> window tile, progress bar, statistics) and one thread for the
cross-source sinks (`stream.TickSink`), each behind a bounded queue (back-pressure on the stream).

At the end (`finish`): the queues drain (after a second Ctrl-C, `hurry`, what is still queued is
skipped), then every writer and tick sink is closed in one order (`writers.close_writers`), or all
aborted when the run failed. A writer raising `EndOfOutput` (its reader went away) ends the run as
the end of the input would.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from transpose_live.pipeline.render import Hud, render_frame
from transpose_live.pipeline.runner import EndOfOutput
from transpose_live.pipeline.writers import close_writers

_DONE = object()


class SourceStats:
    """What reaches a source's outputs: frames and capture->output latency (the last 10 000)."""

    def __init__(self) -> None:
        self.frames = 0
        self.latencies: list[float] = []
        self.first: float | None = None
        self.last: float | None = None

    def add(self, frame) -> None:
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.frames += 1
        self.latencies.append(now - frame.captured_at)
        if len(self.latencies) > 10_000:
            del self.latencies[:5_000]

    @property
    def fps(self) -> float:
        return (self.frames - 1) / (self.last - self.first) if self.frames > 1 and self.last > self.first else 0.0

    def latency_ms(self, q: float) -> float:
        return 1000 * float(np.percentile(self.latencies, q)) if self.latencies else 0.0


class _Lane:
    """One output thread: items from a bounded queue to `emit`, until `_DONE`; the first error is kept
    (and raised by the stream), `EndOfOutput` ends the run."""

    def __init__(self, name: str, emit, size: int, hurry: threading.Event) -> None:
        self.emit, self.hurry = emit, hurry
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.error: BaseException | None = None
        self.ended = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

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
        if self._thread.is_alive():
            self.put(_DONE)
            self._thread.join()

    def _loop(self) -> None:
        while (item := self.queue.get()) is not _DONE:
            if self.error is None and not self.ended and not self.hurry.is_set():
                try:
                    self.emit(item)
                except EndOfOutput:
                    self.ended = True
                except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                    self.error = exc


class OutputStage:
    """Every sink of a stream. `inputs`: the `stream.StreamInput`s (their writers and overlays);
    `shared`: (window or None, progress bar or None, hurry event)."""

    def __init__(self, inputs, tick_sinks, times, options, keypoints, shared) -> None:
        self.window, self.progress, hurry = shared
        self.inputs, self.tick_sinks, self.times, self.opts, self.keypoints = inputs, tick_sinks, times, options, keypoints
        self.huds = [Hud() for _ in inputs] if options.hud else None  # one per source: its own frame rate
        self.lanes = [_Lane(f"output:{inp.name}", self._emitter(inp), options.queue_size, hurry) for inp in inputs]
        self.tick_lane = _Lane("output:ticks", self._emit_tick, options.queue_size, hurry) if tick_sinks else None

    @property
    def _all_lanes(self) -> list:
        return self.lanes + ([self.tick_lane] if self.tick_lane else [])

    @property
    def error(self) -> BaseException | None:
        return next((lane.error for lane in self._all_lanes if lane.error is not None), None)

    @property
    def ended(self) -> bool:
        return any(lane.ended for lane in self._all_lanes)

    def start(self) -> None:
        for lane in self._all_lanes:
            lane.start()

    def put(self, tick) -> None:
        """A tick's events and frames to their sources' threads, the tick to the cross-source sinks."""
        for inp, event in tick.events:
            self.lanes[inp.index].put(event)
        for item in tick.items:
            self.lanes[item.source.index].put(item)
        if self.tick_lane is not None and tick.items:
            self.tick_lane.put(tick)

    def finish(self, failed: bool) -> bool:
        """Drains the threads, then closes every writer and tick sink in one order (all aborted when the
        run or an output failed). Returns whether the run failed."""
        for lane in self._all_lanes:
            lane.finish()
        failed = failed or self.error is not None
        close_writers([w for inp in self.inputs for w in inp.writers] + list(self.tick_sinks), failed)
        return failed

    def _emit_tick(self, tick) -> None:
        for sink in self.tick_sinks:
            sink.write_tick(tick)

    def _emitter(self, inp):
        need_image = self.window is not None or any(w.needs_image for w in inp.writers)
        camera = (inp.index, inp.name)

        def emit(item) -> None:
            if not hasattr(item, "frame"):  # a source event (stream_source.SourceEvent)
                for writer in inp.writers:
                    if hasattr(writer, "event"):
                        writer.event(camera, item.record())
                return
            self._emit_frame(inp, item, need_image)

        return emit

    def _emit_frame(self, inp, item, need_image: bool) -> None:
        frame, poses, image = item.frame, item.poses, None
        if inp.overlay is not None:
            inp.overlay.update(poses, frame.timestamp)
        if need_image:
            with self.times.time("render"):
                image = render_frame(frame.image, poses, self.opts.kpt_thr,
                                     attention_keypoint=self.opts.attention_keypoint, attention_from=item.raw,
                                     hud=self.huds[inp.index].lines(frame, poses) if self.huds else None, keypoints=self.keypoints,
                                     blur=self.opts.blur)
                if inp.overlay is not None:
                    inp.overlay.draw(image, poses)
        if inp.writers:
            with self.times.time("encode"):
                for writer in inp.writers:
                    writer.write(frame, poses, image)
        inp.stats.add(frame)
        if self.window is not None:
            self.window.offer(inp.index, image)
        if self.progress is not None:
            self.progress.advance(inp.index)
