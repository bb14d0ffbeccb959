"""`--precision auto|fp32|bf16|fp16|int8`: which number format the pose model runs in, and where.

`auto` resolves per device: CUDA -> fp16; a CPU that computes bf16 natively (avx512_bf16 or amx_bf16 in
/proc/cpuinfo, or BF16 in OpenVINO's CPU capabilities) -> bf16; an ARM CPU -> fp16 (OpenVINO's ARM plugin
runs f16); otherwise fp32. Reduced precision on the CPU runs on OpenVINO (INFERENCE_PRECISION_HINT);
INT8 needs a quantised export (`export --format openvino --precision int8 --calibration PATH`), whose
own precision a run then reports. `ONEDNN_MAX_CPU_ISA` (oneDNN's cap on the instruction set, honoured by
torch and OpenVINO) below AVX512_CORE_BF16, e.g. `AVX2`, counts as a CPU without bf16, so that an
AVX2-only CPU can be emulated (OpenVINO still lists BF16 under the cap, then fails to compile bf16). Measured on the 2-core EPYC (avx512_bf16), tp_r_a3 per crop: OpenVINO
fp32 ~60 ms, bf16 ~31 ms, int8 ~21 ms (benchmarks/results/backends-cpu.md, docs/precision.md).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from transpose_live.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}  # --precision -> INFERENCE_PRECISION_HINT
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags in /proc/cpuinfo meaning native bf16 arithmetic
ISA_CAP = "ONEDNN_MAX_CPU_ISA"
BF16_ISAS = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
             "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16")  # oneDNN ISA names that keep bf16
INT8_HINT = ("--precision int8 runs an INT8 model: make one with `transpose-live export MODEL --weights W "
             "--format openvino --precision int8 --calibration FRAMES`, then run it with --weights FOLDER")


@dataclass(frozen=True)
class CpuPrecision:
    """What this CPU offers: the features found and the precision `auto` picks."""

    arch: str  # platform.machine()
    bf16_features: tuple[str, ...]  # e.g. ("avx512_bf16",), or ("openvino:BF16",) when found only there
    auto: str  # "bf16" | "fp16" | "fp32"

    def describe(self) -> str:
        found = ", ".join(self.bf16_features) or "no native bf16"
        if isa_cap() is not None:
            found += f", {ISA_CAP}={isa_cap()}"
        return f"{self.arch} CPU ({found}) -> {self.auto}"


def is_arm(arch: str | None = None) -> bool:
    return (arch or platform.machine()).lower() in ("arm64", "aarch64") or (arch or "").lower().startswith("arm")


def cpuinfo_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU flags the kernel lists (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def openvino_capabilities() -> tuple[str, ...]:
    """OpenVINO's CPU OPTIMIZATION_CAPABILITIES (e.g. BF16, FP16, INT8), or () without OpenVINO."""
    if importlib.util.find_spec("openvino") is None:
        return ()
    import openvino as ov  # noqa: PLC0415

    try:
        return tuple(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001 - no CPU plugin: treat as no capabilities
        return ()


def isa_cap() -> str | None:
    """The instruction-set cap in $ONEDNN_MAX_CPU_ISA (upper case), None where unset."""
    cap = os.environ.get(ISA_CAP, "").strip().upper()
    return cap or None


@functools.lru_cache(maxsize=1)
def cpu_precision() -> CpuPrecision:
    """This machine's CPU features and its `auto` precision (cached: the CPU does not change)."""
    arch = platform.machine() or "unknown"
    found = tuple(f for f in BF16_FLAGS if f in cpuinfo_flags())
    caps = openvino_capabilities()
    if not found and "BF16" in caps:
        found = ("openvino:BF16",)
    if isa_cap() not in (None, *BF16_ISAS):
        found = ()  # capped below bf16 (an emulated AVX2-only CPU): as on a CPU without it
    if found:
        auto = "bf16"
    elif is_arm(arch) and "FP16" in caps:
        auto = "fp16"
    else:
        auto = "fp32"
    return CpuPrecision(arch, found, auto)


def check_name(precision: str | None) -> str:
    name = (precision or "auto").strip().lower()
    if name not in PRECISIONS:
        raise UserError(f"unknown --precision {precision!r}; use {', '.join(PRECISIONS)}")
    return name


def resolve_precision(precision: str | None, device_type: str, backend: str, exported: str | None = None) -> str:
    """The precision a pose model runs in: fp32, bf16, fp16 or int8.

    device_type: "cpu" or "cuda"; backend: the resolved runtime (torch, onnxruntime, openvino);
    exported: the precision an exported model was made in (its metadata), None for a checkpoint; only
    int8 binds (an fp16-compressed IR runs at whatever precision OpenVINO is asked for).
    One-line UserError where the runtime or the CPU lacks the precision asked for."""
    name = check_name(precision)
    if exported == "int8":  # a quantised model runs as it was made; its float parts follow auto
        if name not in ("auto", "int8"):
            raise UserError(f"this export is INT8 (quantised); run it with --precision int8 or auto, not {name}")
        return "int8"
    if name == "int8":
        raise UserError(INT8_HINT)
    if name == "auto":
        if device_type == "cuda":
            return "fp16"
        return cpu_precision().auto if backend == "openvino" else "fp32"
    if device_type == "cuda":
        if name in ("fp32", "fp16", "bf16"):  # bf16 where the GPU has it (engine.precision checks)
            return name
        raise UserError(f"--precision {name} on CUDA: use fp16, bf16 or fp32")
    return _check_cpu(name, backend)


def _check_cpu(name: str, backend: str) -> str:
    if name == "fp32":
        return name
    if backend in ("onnxruntime", "torch"):
        raise UserError(f"--precision {name} on the CPU runs on OpenVINO; add --backend openvino (or auto), "
                        f"{backend} runs fp32 here")
    cpu = cpu_precision()
    if name == "bf16" and not cpu.bf16_features:
        capped = f", capped by {ISA_CAP}={isa_cap()}" if isa_cap() else ""
        raise UserError(f"this CPU has no native bf16 ({cpu.arch}, none of {', '.join(BF16_FLAGS)}{capped}); "
                        "use --precision fp32, or int8 with a quantised export")
    if name == "fp16" and not is_arm(cpu.arch):
        raise UserError(f"--precision fp16 on the CPU needs an ARM CPU (this is {cpu.arch}); use "
                        f"--precision {cpu.auto}")
    return name


def detector_hint(precision: str | None) -> str | None:
    """The OpenVINO precision hint of a person detector following the pose model's --precision (None:
    OpenVINO's own default). int8 pose models keep a float detector at the CPU's auto precision."""
    if precision is None:
        return None
    name = check_name(precision)
    return OPENVINO_HINTS[resolve_precision("auto" if name == "int8" else name, "cpu", "openvino")]


def cpu_runtime() -> str:
    """The runtime `--backend auto` picks for checkpoints on the CPU: OpenVINO (fastest here in fp32 and the
    only one with bf16/int8), else onnxruntime, else torch."""
    for name in ("openvino", "onnxruntime"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "torch"
