"""`transpose-live train`: train or fine-tune a registry model on COCO-format or MPII keypoints.

Every training setting is a `TrainConfig` field (training/config.py); its options are derived from them
(`cli.options.config_options`). Here only what a run folder and this process need: --out, --resume,
--overwrite, --threads, --progress.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from click.core import ParameterSource

from transpose_live.cli.options import Command, config_options
from transpose_live.errors import UserError
from transpose_live.training.config import TrainConfig, parse_size  # noqa: F401 - parse_size re-exported


@config_options(TrainConfig, "train")
def train_command(
    ctx: typer.Context,
    cfg: TrainConfig,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (last.pth, best.pth, metrics.csv, curves.png)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder exactly where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for torch in this process (default: torch's choice; torchrun sets 1)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train or fine-tune a pose model (Adam + cosine, Gaussian heatmap targets, spec section 3)."""
    from rich.console import Console

    from transpose_live.training import train

    console = Console(stderr=True)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise UserError("--resume continues a run in its own folder; leave out --out (or give the same folder)")
        extend = ctx.get_parameter_source("epochs") == ParameterSource.COMMANDLINE
        result = train(cfg, resume, resume=True, progress=progress, console=console,
                       epochs=cfg.epochs if extend else None)
    else:
        if cfg.train_images is None or cfg.train_annotations is None or out is None:
            raise UserError("train needs --train-images, --train-annotations and --out (or --resume RUN_DIR)")
        result = train(cfg, out, overwrite=overwrite, progress=progress, console=console)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    best = f"; best {result.metric or 'epoch'} {result.best:.4g}" if result.best is not None else ""
    console.print(f"run {result.run_dir}: {len(result.history)} epochs{best}; weights {result.run_dir / 'best.pth'}",
                  soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `train` to the app."""
    app.command("train", cls=Command)(train_command)
