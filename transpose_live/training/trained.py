"""A checkpoint written by `train` -> the model it holds, its spec (input size) and keypoint set.

Plain state_dict checkpoints (official files) have no metadata: `load_trained` returns None for them
and they keep loading through `models.build`.
"""

from __future__ import annotations

from pathlib import Path

from transpose_live.models.factory import LoadedModel as TrainedModel, load_model
from transpose_live.models.checkpoint import read_training_meta

__all__ = ["TrainedModel", "load_trained"]


def load_trained(path: str | Path) -> TrainedModel | None:
    """The model of a training checkpoint (strict key/shape check), or None when `path` has no training meta."""
    if not Path(path).is_file():
        return None
    meta = read_training_meta(path)
    if not meta or "model" not in meta or "keypoint_names" not in meta:
        return None
    return load_model(None, path)
