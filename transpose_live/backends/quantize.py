"""INT8 post-training quantisation of an OpenVINO pose model with NNCF (`export --precision int8`).

Every model gets NNCF's default (CNN) performance preset, TransPose included (issue #33): NNCF's
transformer preset (ModelType.TRANSFORMER, mixed) left the transposed convolutions of the heatmap head in
fp32 and cost more AP on the briefly trained test tp_r_a3 (COCO AP 0.9505 fp32 -> 0.9086 transformer/mixed,
-> 0.9422 CNN/performance, same 24 calibration images), while the CNN preset quantises the head too
and ran 1.3-3.2x faster per call on the AVX-512/AMX CPU (docs/precision.md). Calibration crops come from
the caller (the project's detector and crop code on the user's frames: `pipeline.calibration`).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np

from transpose_live.errors import UserError, first_line
from transpose_live.runtime.signal_stack import keep_signal_stack

NNCF_HINT = 'INT8 quantisation needs NNCF; pip install "transpose-live[int8]" (or pip install nncf)'
MIN_CROPS = 8  # fewer calibration crops give unstable activation ranges


@dataclass(frozen=True)
class Calibration:
    """Calibration crops (N, 3, H, W) float32, normalised as the estimator feeds the model, and their origin."""

    crops: np.ndarray
    source: str  # the --calibration path
    frames: int  # frames or images read

    def describe(self) -> dict:
        return {"source": self.source, "frames": int(self.frames), "crops": int(len(self.crops))}


@contextlib.contextmanager
def _quiet_nncf():
    """NNCF's own INFO lines, and torch's "No CUDA runtime is found, using CUDA_HOME=..." warning (logged when
    NNCF imports torch.utils.cpp_extension, which a CPU-only OpenVINO quantisation never uses), are not shown."""
    loggers = [logging.getLogger(name) for name in ("nncf", "torch.utils.cpp_extension")]
    before = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, before):
            log.setLevel(level)


VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
INT8_NO_GAIN = ("note: this CPU has no int8 dot-product instructions (VNNI/AMX): the INT8 model runs no faster "
                "than fp32 here (docs/precision.md); it pays on CPUs that have them")  # x86 flags with int8 dot products (/proc/cpuinfo)


def int8_pays(flags: set[str] | None = None) -> bool:
    """Whether an INT8 model can beat fp32 on this CPU: it needs int8 dot-product instructions (VNNI or AMX).
    Without them (AVX2-only CPUs) oneDNN's int8 matrix products run on `jit_gemm_i8` and the attention is
    no longer fused: tp_r_a3 INT8 took 1.85x fp32's time with oneDNN capped to AVX2 on this machine, and
    ran at 1.03x fp32's fps end to end on an AVX2-only EPYC (docs/precision.md). Other CPUs (ARM): not
    measured, so not claimed."""
    from transpose_live.backends.precision import cpuinfo_flags  # noqa: PLC0415

    found = cpuinfo_flags() if flags is None else flags
    return any(f in found for f in VNNI_FLAGS)


def _import_nncf():
    try:
        with _quiet_nncf():
            import nncf  # noqa: PLC0415
    except ImportError:
        raise UserError(NNCF_HINT) from None
    return nncf


def check_installed() -> None:
    """The one-line install hint before any work."""
    _import_nncf()


def quantize_openvino(ov_model, crops: np.ndarray):
    """The OpenVINO model quantised to INT8 with `crops` (N, 3, H, W) float32 as calibration data."""
    nncf = _import_nncf()
    if crops.ndim != 4 or len(crops) < MIN_CROPS:
        raise UserError(f"INT8 calibration needs at least {MIN_CROPS} person crops, found {len(crops)}; give "
                        "--calibration more frames or images with people in them")
    items = [crops[i:i + 1].astype(np.float32) for i in range(len(crops))]
    try:
        with _quiet_nncf():
            return nncf.quantize(ov_model, nncf.Dataset(items), subset_size=len(items),
                                 preset=nncf.QuantizationPreset.PERFORMANCE)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - NNCF raises many types; the user needs one line
        raise UserError(f"INT8 quantisation failed: {first_line(exc)[:200]}") from None
    finally:
        keep_signal_stack()  # NNCF compiled through Cores of its own on this thread
