"""The torch path's precision: fp32, fp16 or bf16 (`PoseEstimator(precision=...)`, `half=` as its alias).

Default: fp16 on CUDA, fp32 on the CPU. fp16 and bf16 on the CPU are refused for users (torch's CPU
kernels for them are slow: tp_r_a3, 2 crops, 2 cores: fp32 0.6 s, bf16 1.6 s, fp16 17 s); tests and
conformance runs lift the refusal with `cpu_half_allowed()` so that CI runs the CUDA code path
(folded BatchNorm, `.half()`/`.bfloat16()`, channels-last) on the CPU, everything but the kernels.
"""

from __future__ import annotations

import contextlib
import threading

import torch

from transpose_live.errors import UserError

PRECISIONS = ("fp32", "fp16", "bf16")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
_cpu_half = threading.local()


@contextlib.contextmanager
def cpu_half_allowed():
    """Within the block (this thread), fp16/bf16 on the CPU are run instead of refused."""
    before = getattr(_cpu_half, "allowed", False)
    _cpu_half.allowed = True
    try:
        yield
    finally:
        _cpu_half.allowed = before


def resolve_precision(precision: str | None, half: bool | None, device: torch.device) -> str:
    """'fp32', 'fp16' or 'bf16' from `precision` (or the older `half` flag: True = fp16, False = fp32).

    None for both: fp16 on CUDA, fp32 elsewhere. One-line errors for unknown names, for a `half` that
    contradicts `precision`, for bf16 on a GPU without it, and for half precision on the CPU."""
    name = _name(precision, half)
    if name is None:
        return "fp16" if device.type == "cuda" else "fp32"
    if name != "fp32" and device.type != "cuda" and not getattr(_cpu_half, "allowed", False):
        if name == "fp16":
            raise UserError("--half needs a CUDA device; use --no-half on the CPU")
        raise UserError(f"{name} on the torch backend needs a CUDA device; use fp32 on the CPU")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16 or fp32")
    return name


def _name(precision, half) -> str | None:
    from_half = None if half is None else ("fp16" if half else "fp32")
    if precision is None or (isinstance(precision, str) and precision.strip().lower() == "auto"):
        return from_half
    if isinstance(precision, torch.dtype):
        found = [k for k, v in DTYPES.items() if v == precision]
        if not found:
            raise UserError(f"unsupported precision {precision}; use {', '.join(PRECISIONS)}")
        name = found[0]
    else:
        name = str(precision).strip().lower()
        name = _ALIASES.get(name, name)
        if name not in PRECISIONS:
            raise UserError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if from_half is not None and (from_half == "fp16") != (name != "fp32"):
        raise UserError(f"half={half} contradicts precision {name!r}; pass one of them")
    return name
