"""A checkpoint written by `train` -> the model it holds, its spec (input size) and keypoint set.

Plain state_dict checkpoints (official files) have no metadata and keep loading through `models.build`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from transpose_live.models.registry import ModelSpec
from transpose_live.training.keypoint_set import KeypointSet
from transpose_live.training.run_dir import read_meta


@dataclass
class TrainedModel:
    module: nn.Module
    spec: ModelSpec  # the registry spec with the checkpoint's input/heatmap size
    keypoints: KeypointSet
    meta: dict


def load_trained(path: str | Path) -> TrainedModel | None:
    """The model of a training checkpoint (strict key/shape check), or None when `path` has no training meta."""
    from transpose_live.models import model_info
    from transpose_live.models.checkpoint import check_state_dict, read_checkpoint
    from transpose_live.training.model_setup import make_model

    if not Path(path).is_file():
        return None
    meta = read_meta(path)
    if not meta or "model" not in meta or "keypoint_names" not in meta:
        return None
    name = meta["model"]
    size = tuple(int(v) for v in meta["input_size"])
    module = make_model(name, len(meta["keypoint_names"]), size)
    state = read_checkpoint(path)
    check_state_dict(module, state, name)
    module.load_state_dict(state)
    spec = dataclasses.replace(model_info(name), input_size=size, heatmap_size=tuple(int(v) for v in meta["heatmap_size"]))
    return TrainedModel(module.eval(), spec, KeypointSet.from_meta(meta), meta)
