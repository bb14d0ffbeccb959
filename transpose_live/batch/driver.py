"""`run_batch`: the driver. Plans the inputs against the manifest, hands one job at a time to
each worker (local processes or Ray actors, same loop), records every state change in the
manifest, retries inputs whose worker died, shows progress and writes the summary.

    >>> from transpose_live.batch import expand_inputs, run_batch
    >>> report = run_batch(expand_inputs(["archive/"]), "poses/", options, workers=2)
    >>> report.throughput(), report.failed
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from transpose_live.batch.executors import MAX_ATTEMPTS, LocalExecutor
from transpose_live.batch.inputs import InputFile
from transpose_live.batch.jobs import make_job, options_hash, options_record, output_paths
from transpose_live.batch.manifest import Manifest
from transpose_live.batch.summary import BatchReport
from transpose_live.config import RunConfig
from transpose_live.runtime import available_cores
from transpose_live.errors import UserError
from transpose_live.paths import check_writable_dir, write_atomic
from transpose_live.pipeline.runner import stop_on_signals

POLL_S = 0.2


@dataclass
class _Entry:
    index: int
    item: InputFile
    outputs: dict
    stat: os.stat_result | None
    status: str = "pending"
    frames_total: int | None = None
    frames_seen: int = 0
    attempts: int = 0
    lost: int = 0
    worker: str | None = None
    result: dict = field(default_factory=dict)


def run_batch(items: list[InputFile], out_dir: str | Path, options: RunConfig, *, render: bool = False,
              ray: str | None = None, workers: int | None = None, gpus_per_worker: float | None = None,
              threads: int | None = None, progress: bool = True, console=None) -> BatchReport:
    """Runs every input not already done with these options; returns the report (also written to
    `out_dir/summary.json|csv`). ray: None for the local pool, else `auto` or a cluster address.
    threads: CPU threads per worker (default: the cores, or the cluster's CPUs, split between workers).
    options: the resolved `RunConfig` (`cli/batch_cmd.resolve_options`). SIGINT/SIGTERM stop the batch:
    running inputs are abandoned (their `.part` files deleted or left, never renamed) and
    `report.interrupted` holds the signal; a rerun picks them up."""
    from rich.console import Console

    console = console or Console(stderr=True)
    t0 = time.perf_counter()
    out_dir = check_writable_dir(Path(out_dir).expanduser().resolve(), "--out-dir")
    ohash = options_hash(options)
    record = options_record(options)
    _write_options_file(out_dir, ohash, record)
    manifest = Manifest(out_dir)
    entries, pending = _plan(items, out_dir, ohash, render, manifest)
    report = BatchReport(out_dir, ohash, record)
    try:
        if pending:
            _int8_model_once(options, pending[0].item.path)
            executor, started_ray = _make_executor(options, ray, workers, gpus_per_worker, threads, len(pending))
            report.executor, report.workers, report.threads_per_worker = executor.name, executor.slots, executor.threads
            try:
                report.interrupted = _Dispatch(executor, entries, manifest, ohash, out_dir).drive(pending, progress,
                                                                                                 console)
            finally:
                if started_ray:
                    import ray as ray_module

                    ray_module.shutdown()
    finally:
        manifest.close()
        report.wall_seconds = time.perf_counter() - t0
        report.rows = [_row(e, out_dir) for e in entries]
        report.write()
    return report


def _int8_model_once(options: RunConfig, first_input: Path) -> None:
    """A checkpoint in INT8: its INT8 model is made here, once, before the workers start (calibrated on
    --int8-calib, else on the first input); each worker then finds it in the cache (`pipeline.int8_cache`).
    The runtime is resolved as the workers resolve it (`chain.resolve_runtime`), so a combination without
    INT8 is its one-line error here, before any quantising."""
    from transpose_live.chain import asked_precision, resolve_runtime, runs_int8_of_checkpoint

    if asked_precision(options) != "int8" or not runs_int8_of_checkpoint(options, resolve_runtime(options)):
        return
    from transpose_live.pipeline.int8_cache import int8_model

    int8_model(options, first_input)


def _write_options_file(out_dir: Path, ohash: str, record: dict) -> None:
    """`DIR/options-<hash>.json`: which options each hash in the output names stands for."""
    path = out_dir / f"options-{ohash}.json"
    if not path.exists():
        write_atomic(path, json.dumps(record, indent=1, sort_keys=True, default=str) + "\n", "options file")


def _plan(items, out_dir, ohash, render, manifest):
    entries, pending = [], deque()
    for i, item in enumerate(items):
        try:
            stat = item.path.stat()
        except OSError:
            stat = None
        e = _Entry(i, item, output_paths(item, out_dir, ohash, render), stat)
        if manifest.is_done(item.path, ohash, stat, e.outputs):
            rec = manifest.state(item.path, ohash)
            e.status = "skipped"
            e.result = {k: rec.get(k) for k in ("frames", "persons", "seconds", "worker")}
            e.attempts = rec.get("attempts", 0)
        else:
            pending.append(e)
        entries.append(e)
    return entries, pending


def _make_executor(options, ray, workers, gpus_per_worker, threads, n_pending):
    device = str(options.device or "auto")
    if ray:
        from transpose_live.batch.ray_executor import RayExecutor, cluster_resources, connect

        started = connect(ray, num_cpus=available_cores())
        res, node_cpus = cluster_resources()
        cpus = float(res.get("CPU", 1))
        gpus = float(res.get("GPU", 0)) if device != "cpu" else 0.0
        per_gpu = (gpus_per_worker if gpus_per_worker is not None else 1.0) if gpus else 0.0
        n = workers or (max(1, int(gpus / per_gpu)) if per_gpu else max(1, int(cpus) // 2))
        n = min(n, n_pending)
        # an actor must fit on one node: never ask for more CPUs than the biggest node has
        threads = min(threads or max(1, int(cpus) // n), max(1, int(node_cpus)))
        return RayExecutor(options, n, threads, gpus_per_worker=per_gpu), started
    gpus = _local_gpus(device)
    devices = None
    if gpus:
        per_gpu = gpus_per_worker or 1.0
        n = workers or max(1, int(gpus / per_gpu))
        if device in ("auto", "cuda"):
            devices = [f"cuda:{int(i * per_gpu) % gpus}" for i in range(n)]
    else:
        n = workers or max(1, available_cores() // 2)
    n = min(n, n_pending)
    return LocalExecutor(options, n, threads or max(1, available_cores() // n), devices), False


def _local_gpus(device: str) -> int:
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class _Dispatch:
    """Hands pending inputs to free worker slots and records what comes back, until all are finished
    or a signal stops the batch."""

    def __init__(self, executor, entries, manifest: Manifest, ohash: str, out_dir: Path) -> None:
        self.executor, self.manifest, self.ohash, self.out_dir = executor, manifest, ohash, out_dir
        self.by_id = {e.index: e for e in entries}
        self.entries = entries
        self.busy: dict[int, _Entry] = {}
        self.free = list(range(executor.slots))[::-1]
        self.stop, self.received = threading.Event(), []
        self.pending: deque = deque()
        self.bar: _Bar | None = None
        self.console = None

    def drive(self, pending: deque, progress: bool, console) -> int | None:
        """Runs until done; returns the signal that stopped the batch, or None."""
        self.pending, self.console = pending, console
        self.bar = _Bar(self.entries, self.busy, console) if progress else None
        interrupted = False
        try:
            with stop_on_signals(self.stop, self.received), \
                    (self.bar or contextlib.nullcontext()):
                while (self.pending or self.busy) and not self.stop.is_set():
                    self._step()
                interrupted = self.stop.is_set()
        finally:
            self.executor.close(interrupt=bool(self.busy))
            for ev in self.executor.events():
                self.on_event(ev)
            for e in self.busy.values():
                e.status = "interrupted"
                self.manifest.record(e.item.path, self.ohash, e.stat, "interrupted", attempts=e.attempts,
                                     worker=e.worker, error="batch stopped before this input finished")
        return self.received[0] if interrupted and self.received else None

    def _step(self) -> None:
        while self.free and self.pending and not self.stop.is_set():
            e, slot = self.pending.popleft(), self.free.pop()
            e.status = "running"
            self.busy[slot] = e
            self.executor.submit(slot, make_job(e.index, e.item, e.outputs))
        outcomes = self.executor.poll(POLL_S)
        for ev in self.executor.events():
            self.on_event(ev)
        for slot, out in outcomes:
            self.on_outcome(slot, out)
        if self.bar is not None:
            self.bar.update()

    def on_event(self, ev: dict) -> None:
        e = self.by_id.get(ev.get("job"))
        if e is None or e.status != "running":
            return
        if ev["type"] == "start":
            e.attempts += 1
            e.frames_seen = 0
            e.frames_total = ev.get("frames_total")
            e.worker = f"{ev.get('host')}:{ev.get('pid')}"
            self.manifest.record(e.item.path, self.ohash, e.stat, "running", attempts=e.attempts, worker=e.worker)
        elif ev["type"] == "frames":
            e.frames_seen = max(e.frames_seen, int(ev.get("done", 0)))

    def on_outcome(self, slot: int, out: dict) -> None:
        e = self.busy.pop(slot)
        self.free.append(slot)
        e.attempts = max(e.attempts, 1)  # a failure before the worker's start event is still a try
        status = out.get("status")
        if status == "setup-error":
            raise UserError(f"a worker could not load the models: {out.get('error')}")
        if status == "interrupted" and not self.stop.is_set():
            status = "lost"  # a worker stopped by someone else's signal: like a dead worker
            out = {**out, "retry": True}
        if status == "lost":
            e.lost += 1
            if out.get("retry") and e.lost < MAX_ATTEMPTS and not self.stop.is_set():
                e.status = "pending"
                self.pending.appendleft(e)
                return
            out = {**out, "error": f"{out.get('error')}; gave up after {max(e.attempts, e.lost)} attempts"}
            status = "failed"
        self._finished(e, out, status)

    def _finished(self, e: _Entry, out: dict, status: str) -> None:
        e.result = out
        e.worker = out.get("worker", e.worker)
        e.status = status if status in ("done", "failed", "interrupted") else "failed"
        if e.status == "done":
            e.frames_seen = out.get("frames", 0)
        outputs = {k: os.path.relpath(v, self.out_dir) for k, v in e.outputs.items()} if e.status == "done" else {}
        self.manifest.record(e.item.path, self.ohash, e.stat, e.status, frames=out.get("frames", 0),
                             persons=out.get("persons", 0), seconds=out.get("seconds", 0.0), error=out.get("error"),
                             attempts=e.attempts, worker=e.worker, outputs=outputs)
        if self.bar is not None:
            self.bar.finished(e)
        if e.status == "failed":
            line = f"failed: {e.item.path}: {out.get('error')}"
            if self.bar is not None:
                self.bar.note(line)
            else:
                self.console.print(line, soft_wrap=True, highlight=False, markup=False)


class _Bar:
    """rich progress: inputs finished / total, frames done / frames known so far, throughput.
    Totals of finished inputs are kept as they finish, so an update costs O(busy workers)."""

    REFRESH_S = 0.5

    def __init__(self, entries, busy: dict, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.busy = busy
        self.t0 = self.last = time.perf_counter()
        self.counts = {"done": 0, "failed": 0, "skipped": sum(e.status == "skipped" for e in entries)}
        self.frames_done = self.persons_done = 0
        self.progress = Progress(TextColumn("[bold]{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)
        skipped = self.counts["skipped"]
        self.inputs = self.progress.add_task("inputs", total=len(entries), completed=skipped, info=f"{skipped} skipped")
        self.frames = self.progress.add_task("frames", total=None, info="")

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.update(force=True)
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True, highlight=False, markup=False)

    def finished(self, e: _Entry) -> None:
        self.counts[e.status] = self.counts.get(e.status, 0) + 1
        if e.status == "done":
            self.frames_done += e.result.get("frames", 0)
            self.persons_done += e.result.get("persons", 0)

    def update(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.REFRESH_S:
            return
        self.last = now
        running = list(self.busy.values())
        frames = self.frames_done + sum(e.frames_seen for e in running)
        known = self.frames_done + sum(e.frames_total or e.frames_seen for e in running)
        wall = max(now - self.t0, 1e-6)
        c = self.counts
        self.progress.update(self.inputs, completed=c["done"] + c["failed"] + c["skipped"],
                             info=f"{c['skipped']} skipped, {c['failed']} failed")
        self.progress.update(self.frames, completed=frames, total=max(known, frames) or None,
                             info=f"{frames / wall:.1f} frames/s, {self.persons_done / wall:.1f} persons/s")


def _row(e: _Entry, out_dir: Path) -> dict:
    r = e.result
    finished = e.status in ("done", "skipped", "failed")
    return {"input": str(e.item.path), "status": e.status if finished else "interrupted",
            "frames": int(r.get("frames") or 0), "persons": int(r.get("persons") or 0),
            "seconds": float(r.get("seconds") or 0.0), "attempts": e.attempts,
            "json": str(e.outputs["json"]), "render": str(e.outputs.get("render", "")),
            "worker": r.get("worker") or e.worker or "", "error": r.get("error") or ""}
