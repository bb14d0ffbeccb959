"""The pose models: TransPose-R/H and the HRNet / SimpleBaseline baselines.

    >>> from transpose_live import models
    >>> models.list_models()
    >>> net = models.build("tp_r_a4", weights="official", device="cuda")
"""

from transpose_live.models.factory import BUILDERS, build, create_model, resolve_weights
from transpose_live.models.registry import (
    MODELS,
    ModelSpec,
    UnknownModelError,
    list_models,
    model_info,
    transpose_models,
)

__all__ = ["BUILDERS", "MODELS", "ModelSpec", "UnknownModelError", "build", "create_model", "list_models",
           "model_info", "resolve_weights", "transpose_models"]
