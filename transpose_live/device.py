"""Device and precision selection shared by every command."""

from __future__ import annotations

import torch

from transpose_live.errors import UserError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; validates 'cuda[:i]' and 'cpu' with a clear error."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; use auto, cpu or cuda[:index]") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found")
    elif dev.type != "cpu":
        raise UserError(f"unsupported device {device!r}; use auto, cpu or cuda[:index]")
    return dev


def resolve_half(half: bool | None, device: torch.device) -> bool:
    """None -> fp16 on CUDA, fp32 on CPU. fp16 on the CPU is refused (slow and inaccurate)."""
    if half is None:
        return device.type == "cuda"
    if half and device.type != "cuda":
        raise UserError("--half needs a CUDA device; use --no-half on the CPU")
    return half
