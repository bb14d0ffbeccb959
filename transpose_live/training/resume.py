"""Exact --resume: the RNG states of every process, and restoring optimiser, scheduler, scaler, history and
RNG from last.pth. `--resume RUN --epochs N` with a larger N stretches the cosine schedule to the new length
(the learning rate continues as if the run had been started with --epochs N)."""

from __future__ import annotations

import math

import torch

from transpose_live.errors import UserError
from transpose_live.training.distributed import DistContext


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # saved with more GPUs visible than this process sees now: restore the ones that exist
        for index, device_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state, index)


def gather_rng(ctx: DistContext) -> list[dict] | None:
    """Every process's RNG state, collected on the main process (None elsewhere)."""
    if not ctx.enabled:
        return [rng_state()]
    import torch.distributed as dist

    states = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(rng_state(), states, dst=0)
    return states


def resumed_epochs(state: dict, epochs: int | None, run) -> int:
    """The run's epoch count after `--resume RUN [--epochs N]`: N when given (at least the epochs done)."""
    planned, done = int(state["config"]["epochs"]), int(state["epoch"])
    if epochs is None:
        return planned
    if epochs < done:
        raise UserError(f"run {run} has already trained {done} epochs; --epochs {epochs} cannot shorten it "
                        f"(give at least {done}, or leave --epochs out)")
    return int(epochs)


def restore(trainer, state: dict) -> None:
    """Optimiser, scheduler, scaler, RNG, history and best of last.pth into `trainer` (a `Trainer`)."""
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    if trainer.scaler is not None and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])
    rank = trainer.ctx.rank
    set_rng_state(state["rng"][min(rank, len(state["rng"]) - 1)])
    trainer.history, trainer.best = list(state["history"]), state.get("best")
    trainer.start_epoch = int(state["epoch"])
    stretch_schedule(trainer.scheduler, trainer.cfg.epochs * len(trainer.loader), trainer.cfg.lr_end)


def stretch_schedule(scheduler, total_steps: int, lr_end: float) -> None:
    """Gives a cosine schedule a new length, putting each group's lr where the new curve is at this step."""
    if scheduler.T_max == total_steps:
        return
    scheduler.T_max = total_steps
    step = scheduler.last_epoch
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = lr_end + (base - lr_end) * (1 + math.cos(math.pi * step / total_steps)) / 2
