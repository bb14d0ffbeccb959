"""`build(name, weights, device)`: the one way the product creates a pose model.

`load_model` also returns what the weights say about themselves: a checkpoint written by `train`
carries its model name, crop size and keypoint set (`meta`), and the model is built to match it
(e.g. 16 MPII heatmaps at 64x64 crops); plain state_dicts (official files) are COCO-17 models of the
registry's input size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transpose_live.errors import WeightsError
from transpose_live.keypoints import COCO17, NUM_KEYPOINTS, KeypointSet
from transpose_live.models.baselines import PoseHRNet, SimpleBaseline
from transpose_live.models.checkpoint import check_state_dict, read_checkpoint, read_checkpoint_with_meta
from transpose_live.models.download import download_official
from transpose_live.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, UnknownModelError, model_info
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
    if spec.family not in BUILDERS:  # e.g. `detector`: keypoints of the person detector, not a network here
        raise UnknownModelError(f"{spec.name} is not a pose network ({spec.description}); this needs one of: "
                                f"{', '.join(MODELS)}")
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


@functools.lru_cache(maxsize=None)
def _registry_shapes(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Keys and shapes of registry model `name`'s state_dict (built on the meta device: no memory, fast)."""
    with torch.device("meta"):
        model = create_model(name)
    return tuple(sorted((k, tuple(v.shape)) for k, v in model.state_dict().items()))


def registry_model_of(state: dict[str, torch.Tensor]) -> str | None:
    """The registry model whose keys and shapes a bare state_dict has exactly (COCO-17 heads), else None."""
    shapes = tuple(sorted((k, tuple(v.shape)) for k, v in state.items()))
    names = [DEFAULT_MODEL, *(n for n in MODELS if n != DEFAULT_MODEL)]  # the usual one first: fewer builds
    return next((name for name in names if _registry_shapes(name) == shapes), None)


def _model_of_bare_checkpoint(path, state: dict | None) -> str:
    """--model left out with a plain state_dict: the registry model it fits, else one line asking for --model."""
    name = registry_model_of(state if state is not None else read_checkpoint(path))
    if name is None:
        raise WeightsError(f"{path} holds a state_dict that fits no registry model as it is (its keys or shapes "
                           f"differ); pass --model NAME, one of: {', '.join(MODELS)}")
    return name


def model_for(name: str | ModelSpec | None, meta: dict | None, path,
              state: dict[str, torch.Tensor] | None = None) -> tuple[ModelSpec, KeypointSet]:
    """(spec, keypoints) of the model asked for (None: the one a training checkpoint's `meta` names, or
    the registry model a plain state_dict at `path` fits, else DEFAULT_MODEL), checked against the one the
    checkpoint at `path` holds: the checkpoint's crop size and keypoint set when it has training meta, the
    registry's spec and COCO-17 otherwise. `state`: the checkpoint's state_dict when already read."""
    held = meta.get("model") if meta else None
    if name is None and held is None and path is not None and str(path) != "official":
        name = _model_of_bare_checkpoint(path, state)
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
    spec, keypoints = model_for(name, meta, path, state)
    model = create_model(spec, num_keypoints=len(keypoints))
    if weights is not None and state is None:
        state, _ = read_checkpoint_with_meta(resolve_weights(spec, weights))
    if state is not None:
        try:
            check_state_dict(model, state, spec.name)
        except WeightsError as exc:
            fits = registry_model_of(state) if meta is None else None
            if fits:  # what a person needs, not the hundreds of keys that differ
                raise WeightsError(f"checkpoint does not fit model {spec.name!r}: it holds {fits} "
                                   f"weights; pass --model {fits} (or leave --model out)") from None
            raise
        model.load_state_dict(state, strict=True)
    return LoadedModel(model.eval().to(device=device, dtype=dtype), spec, keypoints, meta)


def build(name: str | ModelSpec | None, weights: str | Path | None = None, device: str | torch.device = "cpu",
          dtype: torch.dtype | None = None) -> nn.Module:
    """Create model `name` in eval mode on `device` (and `dtype` when given); see `load_model`."""
    return load_model(name, weights, device, dtype).module
