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


def create_model(name: str, num_keypoints: int = 17, input_size: tuple[int, int] | None = None) -> nn.Module:
    """The architecture with random initialisation (no weights loaded).

    num_keypoints / input_size (H, W): for training other keypoint sets or crop sizes (default: COCO 17, registry size).
    """
    spec = model_info(name)
    a = spec.arch
    size = tuple(input_size) if input_size else spec.input_size
    if spec.family == "transpose_r":
        return TransPoseR(a["d_model"], a["ffn"], a["heads"], a["layers"], size, num_keypoints)
    if spec.family == "transpose_h":
        return TransPoseH(a["width"], a["d_model"], a["ffn"], a["heads"], a["layers"], size, num_keypoints)
    if spec.family == "hrnet":
        return PoseHRNet(a["width"], num_keypoints)
    if spec.family == "simplebaseline":
        return SimpleBaseline(a["depth"], num_keypoints)
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
