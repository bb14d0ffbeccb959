"""The pose engine: person boxes -> batched on-device crops -> model (fp16 on CUDA) -> flip test -> decode.

    >>> from transpose_live.engine import PoseEstimator
    >>> est = PoseEstimator("tp_r_a4", weights="official", device="cuda")
    >>> poses = est.estimate(frame_bgr, boxes_xyxy)
"""

from transpose_live.engine.decode import DECODERS
from transpose_live.engine.describe import describe_model
from transpose_live.engine.estimator import PoseEstimator, require_attention

__all__ = ["DECODERS", "PoseEstimator", "describe_model", "require_attention"]
