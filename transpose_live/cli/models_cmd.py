"""`transpose-live models` and `transpose-live weights download|verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from transpose_live.cli.options import Command
from transpose_live.errors import UserError
from transpose_live.tables import print_table
from transpose_live.models import download
from transpose_live.models.registry import KEYPOINT_SOURCES, MODELS, model_info

console = Console()
weights_app = typer.Typer(help="Download and verify model checkpoints.", no_args_is_help=True)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def models() -> None:
    """List the pose models: params, GFLOPs, paper AP, checkpoint file name and where it was found."""
    table = Table(title="transpose-live models (paper numbers: COCO val2017, 256x192)")
    for col in ("model", "params", "GFLOPs", "AP det", "AP GT", "AP test-dev", "checkpoint file", "weights"):
        table.add_column(col, justify="left" if col in ("model", "checkpoint file", "weights") else "right")
    for spec in MODELS.values():
        found = download.find_local(spec)
        table.add_row(
            spec.name, f"{spec.params:,}", f"{spec.gflops:.1f}", _fmt(spec.paper_ap.val_det),
            _fmt(spec.paper_ap.val_gt), _fmt(spec.paper_ap.test_dev), spec.checkpoint,
            f"[green]{found.parent}[/]" if found else "[dim]-[/]",
        )
    for spec in KEYPOINT_SOURCES.values():  # `--model detector`: no network of ours, no paper numbers
        table.add_row(spec.name, "-", "-", "-", "-", "-", "--detector-weights", "[dim]a YOLO pose model[/]")
    table.caption = ("detector: the person detector's own keypoints (--detector-weights a YOLO pose model, e.g. "
                     "yolo11n-pose.pt): no crops, no second model; its AP is the YOLO model's (docs/speed.md)")
    table.caption_justify = "left"
    print_table(console, table, text_columns=(0, 6, 7))


@weights_app.command("download", cls=Command)
def weights_download(name: str = typer.Argument(..., help="Model name, or 'all'.")) -> None:
    """Download official checkpoints into the cache ($TRANSPOSE_LIVE_HOME/weights)."""
    names = list(MODELS) if name == "all" else [name]
    failures = []
    for n in names:
        spec = model_info(n)
        try:
            path = download.download_official(spec)
        except UserError as exc:
            if len(names) == 1:
                raise
            failures.append(f"{n}: {exc}")
            continue
        console.print(f"{n}: {path}  sha256 {download.sha256_of(path)}", soft_wrap=True)
    if failures:
        raise UserError(f"{len(failures)} of {len(names)} downloads failed; first: {failures[0]}")


@weights_app.command("verify", cls=Command)
def weights_verify(
    path: Path = typer.Argument(..., help="Checkpoint file, or 'official' (the --model's official file: cache, else download)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", show_default=False,
                                        help="Model the checkpoint is for [default: the one a `train` checkpoint names]."),
) -> None:
    """Check that a checkpoint loads strictly into a model (a `train` checkpoint: at its own crop size and
    keypoint set); print its sha256."""
    from transpose_live.models.factory import load_model

    if model is not None:
        model_info(model)
    if str(path) == "official" and not path.exists():
        from transpose_live.models.registry import DEFAULT_MODEL

        path = download.download_official(model_info(model or DEFAULT_MODEL))
    loaded = load_model(model, weights=path)
    spec, keypoints = loaded.spec, loaded.keypoints
    digest = download.sha256_of(Path(path))
    note = "" if loaded.meta is not None else _hash_note(spec, digest)
    trained = "" if loaded.meta is None else (f" ({len(keypoints)} keypoints, {spec.input_size[0]}x{spec.input_size[1]} "
                                              "crops, from `train`)")
    console.print(f"ok: {path} fits {spec.name}{trained}; sha256 {digest}{note}", soft_wrap=True)


def _hash_note(spec, digest: str) -> str:
    """Which known sha256 of the official file `digest` was compared with, and whether it matched."""
    known, source = download.known_sha256(spec)
    if known is None:
        return (f" (no known sha256 to compare: the registry holds none for {spec.name} and none was recorded "
                "at a download)")
    return f" (matches {source})" if known == digest else f" (differs from {source}, {known}: not that official file)"


def register(app: typer.Typer) -> None:
    app.command("models", cls=Command)(models)
    app.add_typer(weights_app, name="weights")
