"""INT8 post-training quantisation of an OpenVINO pose model with NNCF (`export --precision int8`).

TransPose models get NNCF's transformer preset (ModelType.TRANSFORMER: attention MatMuls quantised the
way NNCF recommends for transformers, SmoothQuant off for the conv stem); HRNet/SimpleBaseline models
the default CNN preset. Calibration crops come from the caller (the project's detector and crop code
on the user's frames: `pipeline.calibration`).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np

from transpose_live.errors import UserError, first_line

NNCF_HINT = 'INT8 export needs NNCF; pip install "transpose-live[int8]" (or pip install nncf)'
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


def quantize_openvino(ov_model, crops: np.ndarray, transformer: bool):
    """The OpenVINO model quantised to INT8 with `crops` (N, 3, H, W) float32 as calibration data."""
    nncf = _import_nncf()
    if crops.ndim != 4 or len(crops) < MIN_CROPS:
        raise UserError(f"INT8 calibration needs at least {MIN_CROPS} person crops, found {len(crops)}; give "
                        "--calibration more frames or images with people in them")
    items = [crops[i:i + 1].astype(np.float32) for i in range(len(crops))]
    kwargs = {"model_type": nncf.ModelType.TRANSFORMER} if transformer else {}
    try:
        with _quiet_nncf():
            return nncf.quantize(ov_model, nncf.Dataset(items), subset_size=len(items),
                                 preset=(nncf.QuantizationPreset.MIXED if transformer
                                         else nncf.QuantizationPreset.PERFORMANCE), **kwargs)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - NNCF raises many types; the user needs one line
        raise UserError(f"INT8 quantisation failed: {first_line(exc)[:200]}") from None
