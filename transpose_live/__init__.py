"""transpose-live: real-time human pose estimation with TransPose (ICCV 2021).

    >>> from transpose_live import PoseEstimator, Poses
"""

from transpose_live.engine import PoseEstimator
from transpose_live.poses import Poses

__all__ = ["PoseEstimator", "Poses"]
__version__ = "0.1.0"
