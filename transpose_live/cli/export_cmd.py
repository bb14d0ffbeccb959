"""`transpose-live export`: a pose model to ONNX or OpenVINO (see transpose_live.backends.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import weights_arg


def export(
    model: Optional[str] = typer.Argument(None, show_default=False, help="Registry model name (see `transpose-live models`) [default: the one a trained --weights file names, else tp_r_a4]."),
    weights: str = typer.Option("official", "--weights", "-w", help="Checkpoint path, 'official' or 'random'."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (one .onnx file) or openvino (an IR folder)."),
    half: bool = typer.Option(False, "--half/--no-half", help="fp16 weights (for GPUs / OpenVINO's compressed IR); fp32 by default."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output path [default: MODEL.onnx or MODEL_openvino_model/]."),
) -> None:
    """Export a pose model (dynamic batch) with a metadata JSON; run it with `--weights PATH`."""
    from transpose_live.backends import export_model

    console = Console(stderr=True)
    with console.status(f"exporting {model or weights} to {fmt}"):
        path = export_model(model, weights=weights_arg(weights), fmt=fmt, half=half, out=out)
    console.print(f"wrote {path} (run it with --weights {path})", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `export`."""
    app.command("export")(export)
