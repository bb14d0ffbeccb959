"""transpose-live: real-time human pose estimation with TransPose (ICCV 2021).

    >>> from transpose_live import PoseEstimator, Poses
"""

import os as _os

# OpenMP worker threads sleep between parallel regions instead of spinning: on a machine with other
# load, spinning made torch 3-8x slower (measured; see transpose_live/runtime/threads.py). Must be
# set before torch is first imported; an explicit OMP_WAIT_POLICY wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from transpose_live.engine import PoseEstimator  # noqa: E402
from transpose_live.poses import Poses  # noqa: E402

__all__ = ["PoseEstimator", "Poses"]
__version__ = "0.1.0"
