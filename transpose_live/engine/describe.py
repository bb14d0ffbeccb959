"""What a model + weights pair is, without building it: the registry spec (with the crop size the
weights were trained for) and the keypoint set. Lets commands check options that depend on the
model (`--attention NAME`, `explain --keypoints`) before any model or detector loads."""

from __future__ import annotations

from pathlib import Path

from transpose_live.backends.choose import describe_export, is_exported
from transpose_live.backends.metadata import read_metadata
from transpose_live.keypoints import KeypointSet
from transpose_live.models.checkpoint import read_training_meta
from transpose_live.models.factory import model_for
from transpose_live.models.registry import ModelSpec


def describe_model(model: str | None, weights) -> tuple[ModelSpec, KeypointSet]:
    """(spec, keypoints) of `model` with `weights` (an exported file, a `train` checkpoint, a plain
    checkpoint, 'official' or None); model None: the one the weights name, else the default model."""
    if weights is not None and is_exported(weights):
        return describe_export(read_metadata(weights), model, weights)
    meta = None
    if weights is not None and str(weights) != "official" and Path(str(weights)).is_file():
        meta = read_training_meta(weights)
    return model_for(model, meta, weights)
