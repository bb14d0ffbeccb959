"""`--precision auto|fp32|bf16|fp16|int8`: which number format the pose model runs in, and where.

Spellings are read by `device.parse_precision` (the one parser); `resolve_precision` here is the one
resolution, called once per run by `backends.choose.choose_runtime` (for the CLI through
`chain.resolve_runtime`); the estimator and the detector take its answer as given.
`auto` resolves per device: CUDA -> fp16; a CPU that computes bf16 natively (avx512_bf16 or amx_bf16 in
/proc/cpuinfo, or BF16 in OpenVINO's CPU capabilities) -> bf16; an ARM CPU -> fp16 (OpenVINO's ARM plugin
runs f16); otherwise fp32. Reduced precision on the CPU runs on OpenVINO (INFERENCE_PRECISION_HINT);
INT8 runs a quantised OpenVINO model: an export (`export --format openvino --precision int8 --calibration
PATH`), whose own precision a run then reports, or, for a checkpoint, the INT8 model the run commands make
once and keep (`pipeline.int8_cache`). `ONEDNN_MAX_CPU_ISA` (oneDNN's cap on the instruction set, honoured by
torch and OpenVINO) below AVX512_CORE_BF16, e.g. `AVX2`, counts as a CPU without bf16, so that an
AVX2-only CPU can be emulated (OpenVINO still lists BF16 under the cap, then fails to compile bf16). Measured on the 2-core EPYC (avx512_bf16), tp_r_a3 per crop: OpenVINO
fp32 ~60 ms, bf16 ~31 ms, int8 ~21 ms (benchmarks/results/backends-cpu.md, docs/precision.md).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path

from transpose_live.device import PRECISIONS, parse_precision  # noqa: F401 - PRECISIONS re-exported
from transpose_live.errors import UserError

OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}  # --precision -> INFERENCE_PRECISION_HINT
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 flags in /proc/cpuinfo meaning native bf16 arithmetic
ISA_CAP = "ONEDNN_MAX_CPU_ISA"
BF16_ISAS = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
             "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16")  # oneDNN ISA names that keep bf16
_cpu_half = threading.local()
INT8_HINT = ("--precision int8 runs an INT8 model: make one with `transpose-live export MODEL --weights W "
             "--format openvino --precision int8 --calibration FRAMES`, then run it with --weights FOLDER")
INT8_RANDOM = ("--precision int8 quantises trained weights; pass --weights CHECKPOINT or official "
               "(random weights have nothing to calibrate)")
INT8_RUNTIME = ("--precision int8 runs on OpenVINO on the CPU: pass --device cpu and --backend openvino (or auto); "
                "on a GPU use fp16")


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
    from transpose_live.backends.openvino_core import openvino_core  # noqa: PLC0415

    try:
        return tuple(openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001 - no CPU plugin: treat as no capabilities
        return ()


def isa_cap() -> str | None:
    """The instruction-set cap in $ONEDNN_MAX_CPU_ISA (upper case), None where unset."""
    cap = os.environ.get(ISA_CAP, "").strip().upper()
    return cap or None


def capped_below_bf16() -> bool:
    """True when $ONEDNN_MAX_CPU_ISA caps oneDNN below bf16 (e.g. AVX2): an AVX2-only CPU emulated."""
    return isa_cap() not in (None, *BF16_ISAS)


@functools.lru_cache(maxsize=1)
def cpu_precision() -> CpuPrecision:
    """This machine's CPU features and its `auto` precision (cached: the CPU does not change)."""
    arch = platform.machine() or "unknown"
    found = tuple(f for f in BF16_FLAGS if f in cpuinfo_flags())
    caps = openvino_capabilities()
    if not found and "BF16" in caps:
        found = ("openvino:BF16",)
    if capped_below_bf16():
        found = ()  # an emulated AVX2-only CPU: as on a CPU without bf16
    if found:
        auto = "bf16"
    elif is_arm(arch) and "FP16" in caps:
        auto = "fp16"
    else:
        auto = "fp32"
    return CpuPrecision(arch, found, auto)


@contextlib.contextmanager
def cpu_half_allowed():
    """Within the block (this thread), fp16/bf16 on the torch CPU path are run instead of refused (tests and
    conformance runs: CI runs the CUDA code path - folded BatchNorm, casts, channels-last - on the CPU;
    torch's CPU kernels for them are slow: tp_r_a3, 2 crops, 2 cores: fp32 0.6 s, bf16 1.6 s, fp16 17 s)."""
    before = getattr(_cpu_half, "allowed", False)
    _cpu_half.allowed = True
    try:
        yield
    finally:
        _cpu_half.allowed = before


def resolve_precision(precision, device, backend: str, exported: str | None = None) -> str:
    """The precision a pose model runs in: fp32, bf16, fp16 or int8 (never auto). The one resolution.

    precision: any spelling `device.parse_precision` accepts; device: a torch.device or "cpu"/"cuda[:i]";
    backend: the resolved runtime (torch, onnxruntime, openvino; the last two always run on the CPU);
    exported: the precision an exported model was made in (its metadata), None for a checkpoint; int8
    binds, and so does fp16 on onnxruntime (it runs the file's own types; an fp16-compressed OpenVINO IR
    runs at whatever precision OpenVINO is asked for).
    One-line UserError where the runtime or the device lacks the precision asked for."""
    name = parse_precision(precision)
    on = str(device).split(":")[0] if backend == "torch" else "cpu"
    if exported == "int8":  # a quantised model runs as it was made; its float parts follow auto
        if name not in ("auto", "int8"):
            raise UserError(f"this export is INT8 (quantised); run it with --precision int8 or auto, not {name}")
        return "int8"
    if name == "int8":  # a checkpoint: the run commands quantise it once (pipeline.int8_cache)
        if backend != "openvino" or on != "cpu":
            raise UserError(INT8_RUNTIME)
        return "int8"
    if exported == "fp16" and backend == "onnxruntime":
        if name not in ("auto", "fp16"):
            raise UserError(f"this ONNX export holds fp16 weights and onnxruntime runs it in fp16, not {name}; "
                            "pass --precision auto, or export it in fp32")
        return "fp16"
    if on == "cuda":
        return _check_cuda(name)
    if name == "auto":
        return cpu_precision().auto if backend == "openvino" else "fp32"
    return _check_cpu(name, backend)


def _check_cuda(name: str) -> str:
    if name == "auto":
        return "fp16"
    if name == "bf16":
        import torch  # noqa: PLC0415

        if not torch.cuda.is_bf16_supported():
            raise UserError(f"bf16 is not supported by {torch.cuda.get_device_name()}; use fp16 or fp32")
    return name


def _check_cpu(name: str, backend: str) -> str:
    if name == "fp32":
        return name
    if backend == "torch" and getattr(_cpu_half, "allowed", False):
        return name
    if backend == "torch" and name == "fp16":
        raise UserError("--half needs a CUDA device (fp16 on the torch backend); use --no-half or --precision "
                        "fp32 on the CPU")
    if backend == "torch":
        raise UserError(f"{name} on the torch backend needs a CUDA device; on the CPU {name} runs on OpenVINO: "
                        "add --backend openvino (or auto)")
    if backend == "onnxruntime":
        raise UserError(f"--precision {name} on the CPU runs on OpenVINO; add --backend openvino (or auto), "
                        "onnxruntime runs fp32 here")
    cpu = cpu_precision()
    if name == "bf16" and not cpu.bf16_features:
        capped = f", capped by {ISA_CAP}={isa_cap()}" if isa_cap() else ""
        raise UserError(f"this CPU has no native bf16 ({cpu.arch}, none of {', '.join(BF16_FLAGS)}{capped}); "
                        "use --precision fp32, or int8 with a quantised export")
    if name == "fp16" and not is_arm(cpu.arch):
        raise UserError(f"--precision fp16 on the CPU needs an ARM CPU (this is {cpu.arch}); use "
                        f"--precision {cpu.auto}")
    return name


def detector_precision(precision: str | None) -> str:
    """The float precision an OpenVINO person detector runs in, following the pose model's resolved
    precision (taken as given); int8 pose models, and None/auto (library use), keep a float detector at
    the CPU's own precision."""
    name = parse_precision(precision)
    return cpu_precision().auto if name in ("auto", "int8") else name


def detector_hint(precision: str | None) -> str | None:
    """`detector_precision` as OpenVINO's INFERENCE_PRECISION_HINT (None: OpenVINO's own default)."""
    return None if precision is None else OPENVINO_HINTS[detector_precision(precision)]


def cpu_runtime() -> str:
    """The runtime `--backend auto` picks for checkpoints on the CPU: OpenVINO (fastest here in fp32 and the
    only one with bf16/int8), else onnxruntime, else torch."""
    for name in ("openvino", "onnxruntime"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "torch"
