"""Device selection and the one parser of precision names, shared by every command and the library.

`parse_precision` is the only place a precision spelling is read (`--precision`, `--half/--no-half`,
`PoseEstimator(precision=..., half=...)`, `export`, `bench`, `eval`); what `auto` becomes on this machine
is decided once, by `backends.precision.resolve_precision` (called from `backends.choose.choose_runtime`).
"""

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


PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")  # the canonical names, what every parser returns
PRECISION_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "full": "fp32", "f32": "fp32",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "f16": "fp16",
    "bf16": "bf16", "bfloat16": "bf16",
    "int8": "int8", "i8": "int8",
    "auto": "auto", "": "auto",
}
_DTYPES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16", torch.int8: "int8"}
PRECISION_HELP = ("auto, fp32, bf16, fp16 or int8 (also: float32/full, half/float16, bfloat16, a torch dtype; "
                  "--half = fp16, --no-half = fp32)")


def parse_precision(precision=None, half: bool | None = None) -> str:
    """Any accepted spelling -> auto | fp32 | bf16 | fp16 | int8 (not resolved: `auto` stays `auto`).

    precision: a name in any case (fp32/float32/float/full/f32, fp16/float16/half/f16, bf16/bfloat16,
    int8/i8, auto), None (= auto) or a torch dtype. half: the older flag (`--half`/`--no-half`,
    `half=True/False`), an alias of fp16 / fp32 that may repeat `precision` but not contradict it.
    One-line UserError naming the accepted spellings for anything else."""
    if isinstance(precision, torch.dtype):
        name = _DTYPES.get(precision)
    elif precision is None:
        name = "auto"
    else:
        name = PRECISION_ALIASES.get(str(precision).strip().lower())
    if name is None:
        raise UserError(f"unknown --precision {str(precision)!r}; use {PRECISION_HELP}")
    if half is None:
        return name
    alias = "fp16" if half else "fp32"
    if name not in ("auto", alias):
        raise UserError(f"--{'' if half else 'no-'}half means --precision {alias}, which contradicts --precision "
                        f"{name} (half={bool(half)}); pass one of them")
    return alias
