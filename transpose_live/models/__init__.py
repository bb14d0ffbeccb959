"""The pose models: TransPose-R/H and the HRNet / SimpleBaseline baselines.

    >>> from transpose_live import models
    >>> models.list_models()
    >>> net = models.build("tp_r_a4", weights="official", device="cuda")
"""

from transpose_live.models.factory import build, create_model, list_models, model_info
from transpose_live.models.registry import MODELS, ModelSpec

__all__ = ["build", "create_model", "list_models", "model_info", "MODELS", "ModelSpec"]
