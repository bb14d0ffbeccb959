"""The pose models: TransPose-R/H and the HRNet / SimpleBaseline baselines.

    >>> from transpose_live import models
    >>> models.list_models()
    >>> net = models.build("tp_r_a4", weights="official", device="cuda")

The registry is imported at once; the builders (and torch) on first use.
"""

from __future__ import annotations

import importlib

from transpose_live.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    UnknownModelError,
    list_models,
    model_info,
    transpose_models,
)

_FACTORY = ("BUILDERS", "LoadedModel", "build", "create_model", "load_model", "resolve_weights")

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "UnknownModelError", "list_models", "model_info", "transpose_models", *_FACTORY]


def __getattr__(name: str):
    if name in _FACTORY:
        return getattr(importlib.import_module("transpose_live.models.factory"), name)
    raise AttributeError(f"module 'transpose_live.models' has no attribute {name!r}")
