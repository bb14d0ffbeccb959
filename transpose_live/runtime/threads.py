"""The CPU thread budget: how many threads each part of the pipeline may use, kept in force.

The model stages (detector, pose model) run one after the other on the pipeline's calling thread,
so each may use every core of the budget. Decoding and rendering/encoding run beside them in their
own threads; OpenCV's internal pool is held at one thread so those threads never fan out over the
cores the model is using. ultralytics sets torch's intra-op threads to 1 (and OpenCV's to 1) on its
first predict; `keep_threads` around the detector call and `reassert_budget` put the budget back.

Measured on the 2-core machine (tp_r_a3 + yolo11n-pose detector, squat.mp4, 40 frames, one run):
sequential detect -> pose with 2 torch threads 8.0 fps; detector for frame t+1 beside pose for
frame t, one thread each, 6.5 fps (on exercise.avi, 3 people: 2.4 vs 2.3). Sequential is kept.
When neither model runs on torch (OpenVINO / onnxruntime, the CPU default), torch only does the glue
(crops, decoding) and gets one thread (`glue_only_torch`, applied by `chain.build_chain`).

This is the only module that calls `torch.set_num_threads`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from transpose_live.errors import UserError


@dataclass(frozen=True)
class ThreadBudget:
    """Threads per part: `torch` (pose model on the torch backend and the YOLO detector),
    `runtime` (onnxruntime / OpenVINO intra-op threads), `opencv` (cv2's own pool)."""

    cores: int
    torch: int
    runtime: int
    opencv: int

    def as_dict(self) -> dict:
        return dict(cores=self.cores, torch=self.torch, runtime=self.runtime, opencv=self.opencv)


_active: ThreadBudget | None = None


def available_cores() -> int:
    """Cores this process may run on (CPU affinity, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan_budget(threads: int | None = None) -> ThreadBudget:
    """The budget for `threads` cores (default: every core this process may use)."""
    if threads is not None and int(threads) < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    n = int(threads) if threads is not None else available_cores()
    return ThreadBudget(cores=n, torch=n, runtime=n, opencv=1)


def apply_budget(budget: ThreadBudget | int | None = None) -> ThreadBudget:
    """Puts `budget` (or `plan_budget(budget)` for an int / None) in force for this process."""
    global _active
    if not isinstance(budget, ThreadBudget):
        budget = plan_budget(budget)
    _active = budget
    _set_torch(budget.torch)
    _set_opencv(budget.opencv)
    return budget


def active_budget() -> ThreadBudget | None:
    """The budget last applied in this process (None before any)."""
    return _active


def reassert_budget() -> bool:
    """Restores the active budget if a library changed torch's or OpenCV's thread count; True if
    something had to be put back. Cheap: two getter calls when nothing changed."""
    if _active is None:
        return False
    changed = False
    if torch.get_num_threads() != _active.torch:
        _set_torch(_active.torch)
        changed = True
    if _opencv_threads() not in (None, _active.opencv):
        _set_opencv(_active.opencv)
        changed = True
    return changed


@contextlib.contextmanager
def keep_threads():
    """Runs the block, then restores torch's and OpenCV's thread counts as they were before it
    (the active budget's when one is applied)."""
    torch_before = torch.get_num_threads()
    cv_before = _opencv_threads()
    try:
        yield
    finally:
        if _active is not None:
            reassert_budget()
        else:
            if torch.get_num_threads() != torch_before:
                _set_torch(torch_before)
            if cv_before is not None and _opencv_threads() != cv_before:
                _set_opencv(cv_before)


def _set_torch(n: int) -> None:
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _opencv_threads() -> int | None:
    try:
        import cv2  # noqa: PLC0415
    except ImportError:
        return None
    return cv2.getNumThreads()


def _set_opencv(n: int) -> None:
    try:
        import cv2  # noqa: PLC0415
    except ImportError:
        return
    cv2.setNumThreads(n)


def glue_only_torch() -> ThreadBudget | None:
    """When no model runs on torch (pose model and detector on OpenVINO / onnxruntime), torch only runs the
    glue between them (crops, heatmap decoding, each op well under a millisecond): it gets one thread, so
    its parallel regions never wait for a core that the capture or output thread holds. Returns the budget
    now in force (None when no budget is applied)."""
    if _active is None or _active.torch == 1:
        return _active
    return apply_budget(ThreadBudget(cores=_active.cores, torch=1, runtime=_active.runtime, opencv=_active.opencv))


def runtime_threads() -> int:
    """Intra-op threads for onnxruntime / OpenVINO: the active budget's, else every core."""
    return _active.runtime if _active is not None else available_cores()
