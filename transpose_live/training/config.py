"""What one training run is: `TrainConfig` (every setting, saved in last.pth for --resume) and `TrainResult`."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch

from transpose_live.config import DEVICE_HELP, option
from transpose_live.errors import UserError


DATA, TRAINING, MODEL_PANEL = "Data", "Training", "Model"
_PATH = {"type": Optional[Path], "parse": str}  # a path on the command line, a str in the config


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192) (height x width)."""
    try:
        h, w = (int(v) for v in str(text).lower().replace("*", "x").split("x"))
    except ValueError:
        raise UserError(f"--input-size must be HEIGHTxWIDTH like 256x192, got {text!r}") from None
    if h < 8 or w < 8:
        raise UserError(f"--input-size {text} is too small")
    return h, w


def _train(default, help: str, panel: str = TRAINING, **cli):
    """A TrainConfig field and its `train` option (`config.option`)."""
    return option(default, help, panel=panel, commands=("train",), **cli)


@dataclass
class TrainConfig:
    """Every setting of one training run, declared once: the `train` command's options are derived from
    these fields (`cli.options.config_options`), and the run saves them in last.pth for --resume."""

    model: str = _train("tp_r_a4", "Registry model to train.", MODEL_PANEL, short="-m")
    train_images: Optional[str] = _train(None, "Folder of the training images.", DATA, **_PATH)
    train_annotations: Optional[str] = _train(
        None, "COCO keypoints JSON (any keypoint count) or MPII JSON list.", DATA, **_PATH)
    val_images: Optional[str] = _train(None, "Folder of the validation images.", DATA, **_PATH)
    val_annotations: Optional[str] = _train(None, "Validation annotations (COCO-17: AP; MPII: PCKh).", DATA, **_PATH)
    init: str = _train("official", "Start weights: official, random or a checkpoint path (fitting tensors are kept).",
                       MODEL_PANEL)
    epochs: int = _train(10, "Epochs to train (default 10); with --resume: extend the run to N epochs.",
                         per_command={"train": None}, min=1, show_default=False)
    batch_size: int = _train(20, "Crops per step and process.", min=1)
    lr: float = _train(1e-4, "Adam learning rate (cosine decay to --lr-min).")
    lr_min: Optional[float] = _train(None, "Final learning rate (default lr / 10).")
    weight_decay: float = _train(1e-4, "Adam weight decay.")
    input_size: tuple[int, int] = _train((256, 192), "Crop HEIGHTxWIDTH; heatmaps are 1/4 of it.", MODEL_PANEL,
                                         per_command={"train": "256x192"}, type=str, parse=parse_size)
    device: str = _train("auto", DEVICE_HELP, short="-d")
    workers: int = _train(2, "Data loading processes.", min=0)
    freeze_backbone: bool = _train(False, "Train only the encoder and head (small data).", MODEL_PANEL,
                                   negatable=False)
    freeze_bn: bool = _train(False, "Keep BatchNorm statistics fixed (small batches, DDP on the CPU).",
                             MODEL_PANEL, negatable=False)
    dropout: Optional[float] = _train(None, "Encoder dropout (default 0.1).", MODEL_PANEL)
    augment: bool = _train(True, "Scale/rotation/flip/half-body augmentation.")
    seed: int = _train(0, "Random seed (data order, augmentation, random init).")
    val_every: int = _train(1, "Validate every N epochs (and after the last).", min=1)
    repeat: int = _train(1, "Passes over the training people per epoch (tiny data sets).", min=1)
    amp: str = _train("auto", "Mixed precision on CUDA: auto (bf16, else fp16), fp16, bf16, off.")
    sigma: Optional[float] = _train(None, "Target Gaussian sigma in heatmap pixels (default 2).")

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
