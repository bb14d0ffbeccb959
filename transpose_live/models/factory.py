"""`build(name, weights, device)`: the one way the product creates a pose model."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transpose_live.keypoints import NUM_KEYPOINTS
from transpose_live.models.baselines import PoseHRNet, SimpleBaseline
from transpose_live.models.checkpoint import load_checkpoint
from transpose_live.models.download import download_official
from transpose_live.models.registry import ModelSpec, model_info
from transpose_live.models.transpose import TransPoseH, TransPoseR

# family -> builder(**spec.arch, input_size=spec.input_size)
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "transpose_r": TransPoseR,
    "transpose_h": TransPoseH,
    "hrnet": PoseHRNet,
    "simplebaseline": SimpleBaseline,
}


def create_model(name: str | ModelSpec, num_keypoints: int = NUM_KEYPOINTS) -> nn.Module:
    """The architecture with random initialisation (no weights loaded); `num_keypoints` heatmaps
    (COCO's 17 unless a training run says otherwise)."""
    spec = name if isinstance(name, ModelSpec) else model_info(name)
    return BUILDERS[spec.family](**spec.arch, input_size=spec.input_size, num_keypoints=num_keypoints)


def resolve_weights(spec: ModelSpec, weights: str | Path | None) -> Path | None:
    """None (random init), "official" (local folder, cache, else download) or a checkpoint path."""
    if weights is None:
        return None
    return download_official(spec) if str(weights) == "official" else Path(weights)


def build(name: str | ModelSpec, weights: str | Path | None = None, device: str | torch.device = "cpu",
          dtype: torch.dtype | None = None) -> nn.Module:
    """Create model `name` in eval mode on `device` (and `dtype` when given).

    weights: None (random init), a checkpoint path, or "official" (cache, else download).
    """
    spec = name if isinstance(name, ModelSpec) else model_info(name)
    model = create_model(spec)
    path = resolve_weights(spec, weights)
    if path is not None:
        load_checkpoint(model, path, spec.name)
    return model.eval().to(device=device, dtype=dtype)
