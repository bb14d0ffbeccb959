"""`build(name, weights, device)`: the one way the product creates a pose model.

`load_model` also returns what the weights say about themselves: a checkpoint written by `train`
carries its model name, crop size and keypoint set (`meta`), and the model is built to match it
(e.g. 16 MPII heatmaps at 64x64 crops); plain state_dicts (official files) are COCO-17 models of the
registry's input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transpose_live.errors import WeightsError
from transpose_live.keypoints import COCO17, NUM_KEYPOINTS, KeypointSet
from transpose_live.models.baselines import PoseHRNet, SimpleBaseline
from transpose_live.models.checkpoint import check_state_dict, read_checkpoint_with_meta
from transpose_live.models.download import download_official
from transpose_live.models.registry import DEFAULT_MODEL, ModelSpec, model_info
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


@dataclass
class LoadedModel:
    """A model in eval mode with what describes its outputs."""

    module: nn.Module
    spec: ModelSpec  # the registry spec, with the checkpoint's input/heatmap size
    keypoints: KeypointSet  # what its heatmap channels are
    meta: dict | None = None  # training metadata of the checkpoint (None: plain state_dict / random)


def spec_from_meta(meta: dict) -> tuple[ModelSpec, KeypointSet]:
    """The registry spec resized to a training checkpoint's crops, and its keypoint set."""
    try:
        spec = model_info(meta["model"]).resized(meta["input_size"], meta["heatmap_size"])
        return spec, KeypointSet.from_meta(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"the checkpoint's training metadata is incomplete ({exc}); re-save it with `train`") from None


def model_for(name: str | ModelSpec | None, meta: dict | None, path) -> tuple[ModelSpec, KeypointSet]:
    """(spec, keypoints) of the model asked for (None: the one a training checkpoint's `meta` names, else
    DEFAULT_MODEL), checked against the one the checkpoint at `path` holds: the checkpoint's crop size and
    keypoint set when it has training meta, the registry's spec and COCO-17 otherwise."""
    held = meta.get("model") if meta else None
    if name is None:
        name = held or DEFAULT_MODEL
    asked = name.name if isinstance(name, ModelSpec) else str(name)
    if held and held != asked:
        raise WeightsError(f"{path} holds a trained {held} model, not {asked}; pass --model {held} (or leave --model out)")
    if meta is not None and "keypoint_names" in meta:
        return spec_from_meta(meta)
    return (name if isinstance(name, ModelSpec) else model_info(name)), COCO17


def load_model(name: str | ModelSpec | None = None, weights: str | Path | None = None,
               device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> LoadedModel:
    """Model `name` (None: the one a training checkpoint names, else DEFAULT_MODEL) with `weights`
    (None: random init; a checkpoint path; "official": cache, else download), in eval mode."""
    state, meta, path = None, None, None
    if weights is not None and str(weights) != "official":
        path = Path(weights)
        state, meta = read_checkpoint_with_meta(path)
    spec, keypoints = model_for(name, meta, path)
    model = create_model(spec, num_keypoints=len(keypoints))
    if weights is not None and state is None:
        state, _ = read_checkpoint_with_meta(resolve_weights(spec, weights))
    if state is not None:
        check_state_dict(model, state, spec.name)
        model.load_state_dict(state, strict=True)
    return LoadedModel(model.eval().to(device=device, dtype=dtype), spec, keypoints, meta)


def build(name: str | ModelSpec | None, weights: str | Path | None = None, device: str | torch.device = "cpu",
          dtype: torch.dtype | None = None) -> nn.Module:
    """Create model `name` in eval mode on `device` (and `dtype` when given); see `load_model`."""
    return load_model(name, weights, device, dtype).module
