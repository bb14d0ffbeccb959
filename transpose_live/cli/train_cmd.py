"""`transpose-live train`: train or fine-tune a registry model on COCO-format or MPII keypoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from transpose_live.cli.options import Command, DeviceOpt
from transpose_live.errors import UserError


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192) (height x width)."""
    try:
        h, w = (int(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise UserError(f"--input-size must be HEIGHTxWIDTH like 256x192, got {text!r}") from None
    if h < 8 or w < 8:
        raise UserError(f"--input-size {text} is too small")
    return h, w


def train_command(
    model: str = typer.Option("tp_r_a4", "--model", "-m", help="Registry model to train."),
    train_images: Optional[Path] = typer.Option(None, "--train-images", help="Folder of the training images."),
    train_annotations: Optional[Path] = typer.Option(None, "--train-annotations", help="COCO keypoints JSON (any keypoint count) or MPII JSON list."),
    val_images: Optional[Path] = typer.Option(None, "--val-images", help="Folder of the validation images."),
    val_annotations: Optional[Path] = typer.Option(None, "--val-annotations", help="Validation annotations (COCO-17: AP; MPII: PCKh)."),
    init: str = typer.Option("official", "--init", help="Start weights: official, random or a checkpoint path (fitting tensors are kept)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs to train (default 10); with --resume: extend the run to N epochs."),
    batch_size: int = typer.Option(20, "--batch-size", min=1, help="Crops per step and process."),
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (cosine decay to --lr-min)."),
    lr_min: Optional[float] = typer.Option(None, "--lr-min", help="Final learning rate (default lr / 10)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay"),
    input_size: str = typer.Option("256x192", "--input-size", help="Crop HEIGHTxWIDTH; heatmaps are 1/4 of it."),
    device: str = DeviceOpt,
    workers: int = typer.Option(2, "--workers", min=0, help="Data loading processes."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads for torch in this process (default: torch's choice; torchrun sets 1)."),
    amp: str = typer.Option("auto", "--amp", help="Mixed precision on CUDA: auto (bf16, else fp16), fp16, bf16, off."),
    freeze_backbone: bool = typer.Option(False, "--freeze-backbone", help="Train only the encoder and head (small data)."),
    freeze_bn: bool = typer.Option(False, "--freeze-bn", help="Keep BatchNorm statistics fixed (small batches, DDP on the CPU)."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Encoder dropout (default 0.1)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Scale/rotation/flip/half-body augmentation."),
    sigma: Optional[float] = typer.Option(None, "--sigma", help="Target Gaussian sigma in heatmap pixels (default 2)."),
    val_every: int = typer.Option(1, "--val-every", min=1, help="Validate every N epochs (and after the last)."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Passes over the training people per epoch (tiny data sets)."),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (last.pth, best.pth, metrics.csv, curves.png)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder exactly where it stopped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train or fine-tune a pose model (Adam + cosine, Gaussian heatmap targets, spec section 3)."""
    from rich.console import Console

    from transpose_live.training import TrainConfig, train

    console = Console(stderr=True)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise UserError("--resume continues a run in its own folder; leave out --out (or give the same folder)")
        cfg = TrainConfig(model=model, train_images="", train_annotations="", device=device, workers=workers)
        result = train(cfg, resume, resume=True, progress=progress, console=console, epochs=epochs)
    else:
        if train_images is None or train_annotations is None or out is None:
            raise UserError("train needs --train-images, --train-annotations and --out (or --resume RUN_DIR)")
        cfg = TrainConfig(
            model=model, train_images=str(train_images), train_annotations=str(train_annotations),
            val_images=str(val_images) if val_images else None,
            val_annotations=str(val_annotations) if val_annotations else None,
            init=init, epochs=TrainConfig.epochs if epochs is None else epochs, batch_size=batch_size, lr=lr,
            lr_min=lr_min, weight_decay=weight_decay,
            input_size=parse_size(input_size), device=device, workers=workers, freeze_backbone=freeze_backbone,
            freeze_bn=freeze_bn, dropout=dropout, augment=augment, seed=seed, val_every=val_every, amp=amp,
            sigma=sigma, repeat=repeat,
        )
        result = train(cfg, out, overwrite=overwrite, progress=progress, console=console)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    best = f"; best {result.metric or 'epoch'} {result.best:.4g}" if result.best is not None else ""
    console.print(f"run {result.run_dir}: {len(result.history)} epochs{best}; weights {result.run_dir / 'best.pth'}",
                  soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `train` to the app."""
    app.command("train", cls=Command)(train_command)
