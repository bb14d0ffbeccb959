"""Batch workers as Ray actors: one `BatchWorker` per actor, on whichever node has the resources.

Each actor asks for `num_cpus` = its thread budget and `num_gpus` = --gpus-per-worker when the
cluster has GPUs. A killed actor is restarted by Ray (the model is loaded again) and its call
retried (`max_restarts`, `max_task_retries`); after that the driver records the input as failed.
Progress events travel through one small `_Events` actor.
"""

from __future__ import annotations

import os

from transpose_live.batch.executors import MAX_ATTEMPTS
from transpose_live.batch.worker import BatchWorker
from transpose_live.errors import UserError

INSTALL_HINT = 'Ray is not installed; pip install "transpose-live[ray]" (or pip install ray)'
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray takes 127.0.0.1 as this node's address


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


def connect(address: str, num_cpus: int | None = None) -> bool:
    """Joins the Ray cluster at `address`; `auto`: $RAY_ADDRESS or the cluster this machine belongs
    to, else a local one for this run, reachable on 127.0.0.1 only. An already initialised Ray
    session (a library caller, the tests) is used as it is. True when this call started Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    common = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address != "auto":
        try:
            ray.init(address=address, **common)
        except (ConnectionError, ValueError) as exc:
            raise UserError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
        return True
    try:
        ray.init(address="auto", **common)
    except ConnectionError:
        _loopback_only(ray)
        ray.init(address="local", num_cpus=num_cpus, **common)
    return True


def _loopback_only(ray) -> None:
    """A local instance started for one run listens on 127.0.0.1 only (Ray's own switch; the
    constant is read when Ray computes this node's address, so it is set on the loaded module)."""
    os.environ[LOOPBACK_ENV] = "0"
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


def cluster_resources() -> tuple[dict, float]:
    """The cluster's total resources and the CPU count of its biggest live node."""
    ray = import_ray()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    biggest = max((float(n.get("Resources", {}).get("CPU", 0)) for n in nodes), default=1.0)
    return ray.cluster_resources(), biggest


class _Events:
    """A Ray actor holding progress events until the driver collects them."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def put(self, event: dict) -> None:
        self.items.append(event)

    def drain(self) -> list[dict]:
        items, self.items = self.items, []
        return items


class _Actor:
    """The Ray actor: a BatchWorker whose progress goes to the driver's `_Events` actor."""

    def __init__(self, cfg, threads: int | None, events_name: str) -> None:
        import ray

        # looked up by name: a handle passed as an argument would pin it in the object store
        self.events = ray.get_actor(events_name)
        self.worker = BatchWorker(cfg, threads, report=self._report)

    def _report(self, event: dict) -> None:
        self.events.put.remote(event)  # fire and forget: progress is best effort, results are not

    def run(self, job: dict) -> dict:
        return self.worker.run(job)


class RayExecutor:
    """`slots` Ray actors; `poll` waits on their calls with `ray.wait`; progress events are
    collected from one `_Events` actor."""

    name = "ray"

    def __init__(self, cfg, slots: int, threads: int | None, gpus_per_worker: float = 0.0) -> None:
        ray = import_ray()
        self._ray = ray
        self.cfg, self.slots, self.threads = cfg, slots, threads
        import uuid

        self._events_name = f"transpose-live-batch-events-{uuid.uuid4().hex[:12]}"
        self._events = ray.remote(num_cpus=0)(_Events).options(name=self._events_name).remote()
        self._actor_cls = ray.remote(
            num_cpus=threads or 1, num_gpus=gpus_per_worker or 0,
            max_restarts=MAX_ATTEMPTS - 1, max_task_retries=MAX_ATTEMPTS - 1,
        )(_Actor)
        self._actors = [self._new_actor() for _ in range(slots)]
        self._refs: dict = {}

    def _new_actor(self):
        return self._actor_cls.remote(self.cfg, self.threads, self._events_name)

    def submit(self, slot: int, job: dict) -> None:
        self._refs[self._actors[slot].run.remote(job)] = slot

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        if not self._refs:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            slot = self._refs.pop(ref)
            try:
                out.append((slot, ray.get(ref)))
            except ray.exceptions.RayActorError as exc:  # died more often than Ray retries
                out.append((slot, {"status": "lost", "retry": False, "error": f"worker died: {_short(exc)}"}))
                ray.kill(self._actors[slot], no_restart=True)
                self._actors[slot] = self._new_actor()
            except ray.exceptions.RayError as exc:
                out.append((slot, {"status": "failed", "error": _short(exc)}))
        return out

    def events(self) -> list[dict]:
        try:
            return self._ray.get(self._events.drain.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - progress is best effort
            return []

    def close(self, interrupt: bool = False) -> None:
        """Kills the actors (an interrupted input leaves only its `.part` files)."""
        ray = self._ray
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._refs.clear()
        ray.kill(self._events)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
