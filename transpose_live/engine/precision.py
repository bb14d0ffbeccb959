"""The torch path's number formats: `DTYPES` (fp32, fp16, bf16 -> torch dtypes).

Which precision runs is decided elsewhere, once: spellings by `device.parse_precision`, `auto` and the
refusals by `backends.precision.resolve_precision` (fp16 on CUDA, fp32 on the CPU for torch; fp16/bf16 on
the torch CPU path are refused for users because torch's CPU kernels for them are slow, and
`cpu_half_allowed()` lifts that for tests and conformance runs). `PoseEstimator` takes the answer as given.
"""

from __future__ import annotations

import torch

from transpose_live.backends.precision import cpu_half_allowed

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

__all__ = ["DTYPES", "cpu_half_allowed"]
