"""What one training run is: `TrainConfig` (every setting, saved in last.pth for --resume) and `TrainResult`."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from transpose_live.errors import UserError


@dataclass
class TrainConfig:
    model: str
    train_images: str
    train_annotations: str
    val_images: str | None = None
    val_annotations: str | None = None
    init: str = "official"
    epochs: int = 10
    batch_size: int = 20  # per process
    lr: float = 1e-4
    lr_min: float | None = None  # default lr / 10
    weight_decay: float = 1e-4
    input_size: tuple[int, int] = (256, 192)
    device: str = "auto"
    workers: int = 2
    freeze_backbone: bool = False
    freeze_bn: bool = False
    dropout: float | None = None
    augment: bool = True
    seed: int = 0
    val_every: int = 1
    repeat: int = 1  # passes over the training people per epoch
    amp: str = "auto"  # auto (bf16 or fp16 on CUDA, off on CPU) | off | fp16 | bf16
    sigma: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["input_size"] = tuple(d.get("input_size", (256, 192)))
        return cls(**d)

    @property
    def lr_end(self) -> float:
        return self.lr / 10 if self.lr_min is None else self.lr_min

    def check(self) -> None:
        """One-line UserErrors for settings no run can use (the model name included)."""
        if self.epochs < 1:
            raise UserError("--epochs must be at least 1")
        if self.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        if self.repeat < 1:
            raise UserError("--repeat must be at least 1")
        if self.lr <= 0:
            raise UserError("--lr must be positive")
        if (self.val_images is None) != (self.val_annotations is None):
            raise UserError("give both --val-images and --val-annotations (or neither)")
        if self.amp not in ("auto", "off", "fp16", "bf16"):
            raise UserError(f"--amp must be auto, off, fp16 or bf16; got {self.amp!r}")
        from transpose_live.models import model_info

        model_info(self.model)


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    best: float | None
    metric: str | None
    init_report: str


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `--amp` on `device` (None: full precision; always on the CPU)."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if amp == "fp16" else torch.bfloat16
