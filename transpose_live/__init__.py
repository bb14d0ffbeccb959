"""transpose-live: real-time human pose estimation with TransPose (ICCV 2021).

    >>> from transpose_live import PoseEstimator, PoseTracker, Poses

The names are imported on first use, so the command line starts without loading torch.
"""

from __future__ import annotations

import importlib
import os

# OpenMP threads sleep between parallel regions instead of spinning: with other load on the machine,
# spinning made torch 3-8x slower (measured, see transpose_live/runtime/threads.py). It only takes effect
# when set before torch is first imported; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["PoseEstimator", "PoseTracker", "Poses"]
__version__ = "0.1.0"

_HOMES = {
    "PoseEstimator": "transpose_live.engine",
    "PoseTracker": "transpose_live.tracking",
    "Poses": "transpose_live.poses",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'transpose_live' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
