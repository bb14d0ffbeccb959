"""Options shared by several commands (model, weights, device, precision, flip test)."""

from __future__ import annotations

import typer

from transpose_live.models.registry import DEFAULT_MODEL, MODELS

ModelOpt = typer.Option(
    None, "--model", "-m", show_default=False,
    help=f"Pose model: {', '.join(MODELS)} [default: the one a trained or exported --weights file names, else {DEFAULT_MODEL}].",
)
WeightsOpt = typer.Option(
    "official", "--weights", "-w",
    help="Checkpoint path, 'official' (cache, else download) or 'random' (untrained; for testing).",
)
DeviceOpt = typer.Option("auto", "--device", "-d", help="auto, cpu or cuda[:index].")
HalfOpt = typer.Option(None, "--half/--no-half", help="fp16 inference (default: on for CUDA, off on CPU).")


def weights_arg(value: str | None):
    """CLI weights value -> `models.build` weights argument ('random' -> None)."""
    if value is None or value.strip().lower() in ("random", "none"):
        return None
    return value
