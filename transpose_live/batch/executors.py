"""Where batch workers run: a local pool of processes, or Ray actors on a cluster.

Both give the driver the same interface (`slots`, `submit(slot, job)`, `poll(timeout)`,
`events()`, `close()`), and both run `BatchWorker` (one model per worker, loaded once). `poll`
returns `(slot, outcome)` pairs: the worker's result dict, or `{"status": "lost", "retry": bool,
"error": ...}` when the worker process died (killed, out of memory, lost node). Locally the driver
retries a lost input on a fresh process; on Ray, Ray itself restarts the actor and retries the
call (`max_restarts` / `max_task_retries`) before the driver sees it lost.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import queue
from typing import Protocol

from transpose_live.batch.worker import BatchWorker
from transpose_live.config import RunConfig

MAX_ATTEMPTS = 3  # tries per input when its worker dies (the first run included)


class Executor(Protocol):
    name: str
    slots: int
    threads: int | None

    def submit(self, slot: int, job: dict) -> None: ...
    def poll(self, timeout: float) -> list[tuple[int, dict]]: ...
    def events(self) -> list[dict]: ...
    def close(self, interrupt: bool = False) -> None: ...


# ---------------------------------------------------------------------------------- local pool

_WORKER: BatchWorker | None = None


def _init_local_worker(cfg: RunConfig, threads: int | None, events) -> None:
    global _WORKER
    import signal

    # Ctrl-C in a terminal reaches the whole process group: only the driver acts on it (it then
    # SIGTERMs the busy workers, whose pipeline stops cleanly).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = BatchWorker(cfg, threads, report=events.put)


def _run_local_job(job: dict) -> dict:
    assert _WORKER is not None
    return _WORKER.run(job)


class LocalExecutor:
    """`slots` worker processes (spawned: a fresh interpreter, no forked threads), each a
    single-process `concurrent.futures.ProcessPoolExecutor` so a dead process is known exactly:
    its pool breaks, its input is reported lost, and the slot gets a fresh process.
    `devices[i]` overrides the device of slot i (one worker per GPU)."""

    name = "local"

    def __init__(self, cfg: RunConfig, slots: int, threads: int | None, devices: list[str] | None = None) -> None:
        self.cfg, self.slots, self.threads = cfg, slots, threads
        self.devices = devices
        self._ctx = mp.get_context("spawn")
        self._pools: list[cf.ProcessPoolExecutor | None] = [None] * slots
        self._queues: list = [None] * slots
        self._futures: dict[cf.Future, int] = {}
        self._pids: list[int | None] = [None] * slots  # the process of each slot's current input
        self._pending: list[dict] = []
        for slot in range(slots):
            self._start(slot)

    def _start(self, slot: int) -> None:
        cfg = self.cfg.replace(device=self.devices[slot % len(self.devices)]) if self.devices else self.cfg
        events = self._ctx.Queue()  # one per slot: a killed worker can only garble its own
        self._queues[slot] = events
        self._pids[slot] = None
        self._pools[slot] = cf.ProcessPoolExecutor(1, mp_context=self._ctx, initializer=_init_local_worker,
                                                   initargs=(cfg, self.threads, events))

    def submit(self, slot: int, job: dict) -> None:
        self._futures[self._pools[slot].submit(_run_local_job, job)] = slot

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            slot = self._futures.pop(fut)
            try:
                out.append((slot, fut.result()))
            except cf.process.BrokenProcessPool as exc:
                out.append((slot, {"status": "lost", "retry": True, "error": f"worker process died ({exc})"}))
                self._restart(slot)
            except Exception as exc:  # noqa: BLE001 - e.g. a result that could not be pickled
                out.append((slot, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}))
        return out

    def _restart(self, slot: int) -> None:
        self._drain(slot)  # keep what the dead worker reported
        self._pools[slot].shutdown(wait=False, cancel_futures=True)
        self._start(slot)

    def _drain(self, slot: int) -> None:
        q = self._queues[slot]
        while True:
            try:
                event = q.get_nowait()
            except (queue.Empty, EOFError, OSError, ValueError):
                return
            if event.get("type") == "start":
                self._pids[slot] = event["pid"]
            self._pending.append(event)

    def events(self) -> list[dict]:
        for slot in range(self.slots):
            self._drain(slot)
        got, self._pending = self._pending, []
        return got

    def close(self, interrupt: bool = False, grace_s: float = 10.0) -> None:
        """interrupt: SIGTERM the busy workers (their pipeline stops after the frame in flight and
        the worker deletes its `.part` outputs), SIGKILL any still busy after `grace_s`."""
        import os
        import signal

        if interrupt and self._futures:
            self.events()
            busy = {self._pids[slot] for slot in self._futures.values() if self._pids[slot]}
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in busy:
                    try:
                        os.kill(pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
                if sig == signal.SIGTERM:
                    cf.wait(list(self._futures), timeout=grace_s)
                    busy = {self._pids[s] for f, s in self._futures.items() if not f.done() and self._pids[s]}
        for pool in self._pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for q in self._queues:
            if q is not None:
                q.close()
        self._futures.clear()


