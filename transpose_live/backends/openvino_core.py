"""The one OpenVINO `Core` of the process: every runner, the detector and the capability query compile
and ask through it. One Core loads the CPU plugin once and never unloads it while the process runs, so
OpenVINO's own alternate signal stack (installed per Core on AMX CPUs) is never unmapped under a live
thread; the loading thread gets our kept stack instead (`runtime.signal_stack`). OpenVINO's Core is
thread-safe."""

from __future__ import annotations

import functools

from transpose_live.errors import UserError
from transpose_live.runtime.signal_stack import keep_signal_stack

OPENVINO_HINT = 'OpenVINO is not installed; pip install "transpose-live[openvino]" (or use --backend onnxruntime)'


def import_openvino():
    """The openvino module, or a one-line UserError with the install hint."""
    try:
        import openvino  # noqa: PLC0415
    except ImportError:
        raise UserError(OPENVINO_HINT) from None
    return openvino


@functools.cache
def openvino_core():
    """The process's Core, with the CPU plugin loaded (first call) and this thread's signal stack kept."""
    core = import_openvino().Core()
    try:
        core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")  # loads the CPU plugin here, once
    except Exception:  # noqa: BLE001 - no CPU plugin: compile_model says so, with its own message
        pass
    keep_signal_stack()
    return core
