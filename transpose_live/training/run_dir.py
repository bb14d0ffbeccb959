"""A training run's folder: last.pth / best.pth checkpoints, metrics.csv and curves.png.

Checkpoints hold the weights under `state_dict` (what `models.checkpoint.extract_state_dict` reads)
plus `meta` (model name, input size, keypoint names, skeleton, flip pairs); last.pth also holds the
optimiser, scheduler, RNG state, finished epoch, metrics history and the run's config for --resume.
Every file is written to a temporary name in the folder and renamed into place.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import torch

from transpose_live.errors import UserError
from transpose_live.paths import write_atomic

LAST, BEST, METRICS, PLOT = "last.pth", "best.pth", "metrics.csv", "curves.png"
FORMAT = "transpose-live-train/1"


def _atomic_write(path: Path, write) -> Path:
    return write_atomic(path, write, "run file")


def check_new_run_dir(out: Path, overwrite: bool) -> None:
    """Refuses an existing non-empty run folder (unless overwrite) and an unwritable location. Touches nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"run folder {out} already exists; continue it with --resume {out} or replace it with --overwrite")
    parent = out if out.is_dir() else _existing_parent(out)
    if not parent.is_dir():
        raise UserError(f"cannot create the run folder {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the run folder {out}: {parent} is not writable")


def _existing_parent(path: Path) -> Path:
    p = path.absolute().parent
    while not p.exists():
        p = p.parent
    return p


def create_run_dir(out: Path, overwrite: bool) -> Path:
    """Makes the (emptied, with overwrite) run folder. Call only once every input has been checked."""
    out = Path(out)
    check_new_run_dir(out, overwrite)
    try:
        if out.is_dir() and overwrite:
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None
    return out


def check_resume_dir(run: Path) -> Path:
    run = Path(run)
    if not (run / LAST).is_file():
        raise UserError(f"--resume {run}: no {LAST} there (not a run folder, or it never finished an epoch)")
    return run


def save_checkpoint(path: Path, state_dict: dict, meta: dict, **extra) -> Path:
    payload = {"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "meta": dict(meta, format=FORMAT)}
    payload.update(extra)
    return _atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_run_state(run: Path) -> dict:
    """last.pth of a run folder (weights-only unpickling)."""
    path = check_resume_dir(run) / LAST
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read {path}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") \
            from None


def write_metrics_csv(run: Path, history: list[dict]) -> Path:
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    return _atomic_write(Path(run) / METRICS, lambda tmp: tmp.write_text(buf.getvalue()))


def _fmt(v):
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v


def write_plot(run: Path, history: list[dict], metric: str | None) -> Path:
    """Training (and validation) loss per epoch, and the validation metric on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train loss")
    if any(r.get("val_loss") is not None for r in history):
        pts = [(r["epoch"], r["val_loss"]) for r in history if r.get("val_loss") is not None]
        ax.plot(*zip(*pts), "s-", label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    lines, labels = ax.get_legend_handles_labels()
    if metric and any(r.get(metric) is not None for r in history):
        ax2 = ax.twinx()
        pts = [(r["epoch"], r[metric]) for r in history if r.get(metric) is not None]
        ax2.plot(*zip(*pts), "^-", color="tab:green", label=metric)
        ax2.set_ylabel(metric)
        l2, lab2 = ax2.get_legend_handles_labels()
        lines, labels = lines + l2, labels + lab2
    ax.legend(lines, labels, loc="upper right")
    fig.tight_layout()
    path = Path(run) / PLOT

    def write(tmp: Path) -> None:
        fig.savefig(tmp, format="png")

    try:
        return _atomic_write(path, write)
    finally:
        plt.close(fig)
