"""The CPU thread budget of batch workers: the machine's cores split between the workers.

This is the one place the batch package calls `torch.set_num_threads`.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """cores // workers, at least 1."""
    return max(1, (cores or available_cores()) // max(1, workers))


def apply_thread_budget(threads: int) -> None:
    """Inside a worker process: torch's intra-op threads (and OpenCV's) to `threads`."""
    import cv2
    import torch

    torch.set_num_threads(max(1, int(threads)))
    cv2.setNumThreads(max(1, int(threads)))
