"""The training run (spec 3): Adam (weight decay 1e-4), cosine decay lr -> lr_min per step, MSE heatmap
loss, per-epoch validation, last/best checkpoints, metrics.csv, curves.png, exact --resume, DDP.

    >>> from transpose_live.training import TrainConfig, train
    >>> train(TrainConfig(model="tp_r_a3", train_images="imgs", train_annotations="ann.json"), "runs/a")
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from transpose_live.device import resolve_device
from transpose_live.training import run_dir as rd
from transpose_live.training.config import TrainConfig, TrainResult
from transpose_live.training.distributed import process_device, setup_distributed
from transpose_live.training.resume import resumed_epochs
from transpose_live.training.trainer import Trainer

__all__ = ["TrainConfig", "TrainResult", "train"]


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True, console: Console | None = None, stop_after_epoch: int | None = None,
          epochs: int | None = None) -> TrainResult:
    """Runs (or, with resume, continues) a training run in folder `out`.

    Every input is read and checked before the run folder is created or an epoch trained.
    resume: the run's own config is used (device and workers from `cfg`); `epochs` extends it.
    stop_after_epoch: end after that many finished epochs as if interrupted (the run stays resumable).
    """
    out = Path(out)
    console = console or Console(stderr=True)
    state = None
    if resume:
        state = rd.load_run_state(out)
        cfg = TrainConfig.from_dict(dict(state["config"], device=cfg.device, workers=cfg.workers,
                                         epochs=resumed_epochs(state, epochs, out)))
    cfg.check()
    device = resolve_device(cfg.device)
    ctx = setup_distributed(device)
    try:
        if state is None and ctx.is_main:
            rd.check_new_run_dir(out, overwrite)
        trainer = Trainer(cfg, out, ctx, process_device(device, ctx), console, state)
        if state is None and ctx.is_main:
            rd.create_run_dir(out, overwrite)
        ctx.barrier()
        return trainer.run(progress, stop_after_epoch)
    finally:
        ctx.close()
