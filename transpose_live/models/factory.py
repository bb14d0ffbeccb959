"""`build(name, weights, device)`: the one way the product creates a pose model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from transpose_live.errors import UserError
from transpose_live.models.baselines import PoseHRNet, SimpleBaseline
from transpose_live.models.registry import MODELS, ModelSpec
from transpose_live.models.transpose import TransPoseH, TransPoseR


def list_models() -> list[str]:
    return list(MODELS)


def model_info(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def create_model(name: str) -> nn.Module:
    """The architecture with random initialisation (no weights loaded)."""
    spec = model_info(name)
    a = spec.arch
    if spec.family == "transpose_r":
        return TransPoseR(a["d_model"], a["ffn"], a["heads"], a["layers"], spec.input_size)
    if spec.family == "transpose_h":
        return TransPoseH(a["width"], a["d_model"], a["ffn"], a["heads"], a["layers"], spec.input_size)
    if spec.family == "hrnet":
        return PoseHRNet(a["width"])
    if spec.family == "simplebaseline":
        return SimpleBaseline(a["depth"])
    raise AssertionError(f"no builder for family {spec.family}")


def build(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Create model `name` in eval mode on `device`.

    weights: None (random init), a checkpoint path, or "official" (cache, else download).
    """
    from transpose_live.models.checkpoint import load_checkpoint  # noqa: PLC0415
    from transpose_live.models.download import resolve_official  # noqa: PLC0415

    model = create_model(name)
    if weights is not None:
        path = resolve_official(name) if str(weights) == "official" else Path(weights)
        load_checkpoint(model, path, name)
    return model.eval().to(device)
