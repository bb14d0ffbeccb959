"""Wall-clock timing of a callable: warm-up, then per-iteration milliseconds.

On CUDA each iteration is timed with a pair of CUDA events and the device is synchronised before
reading them; on the CPU with `time.perf_counter`.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Timing:
    """Per-iteration times of one measured configuration, in milliseconds."""

    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90_ms(self) -> float:
        return percentile(self.times_ms, 90)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.times_ms)

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)


def percentile(values, q: float) -> float:
    """q-th percentile with linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sequence")
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def time_callable(fn: Callable[[], object], device: torch.device, warmup: int = 3, iters: int = 20,
                  on_iter: Callable[[], None] | None = None) -> Timing:
    """Run `fn` `warmup` times untimed, then `iters` times timed; `on_iter` is called after each."""
    if iters < 1:
        raise ValueError("iters must be >= 1")
    for _ in range(warmup):
        fn()
        if on_iter:
            on_iter()
    if device.type == "cuda":
        return Timing(tuple(_time_cuda(fn, device, iters, on_iter)))
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
        if on_iter:
            on_iter()
    return Timing(tuple(times))


def _time_cuda(fn, device: torch.device, iters: int, on_iter) -> list[float]:
    times = []
    with torch.cuda.device(device):
        torch.cuda.synchronize()
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
            if on_iter:
                on_iter()
    return times
