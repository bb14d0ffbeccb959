"""Training and fine-tuning (spec section 3): COCO keypoints of any count, MPII, transfer between
keypoint sets, DDP through torchrun, exact resume.

    >>> from transpose_live.training import TrainConfig, train
"""

from transpose_live.training.keypoint_set import COCO17, MPII16, KeypointSet
from transpose_live.training.config import TrainConfig, TrainResult
from transpose_live.training.loop import train

__all__ = ["COCO17", "MPII16", "KeypointSet", "TrainConfig", "TrainResult", "train"]
