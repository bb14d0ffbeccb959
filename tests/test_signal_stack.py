"""A signal after OpenVINO models were released still reaches its Python handler (runtime/signal_stack.py).

On AMX CPUs OpenVINO's CPU plugin installs an alternate signal stack per Core and unmaps it when the Core
dies, on whatever thread that happens; with Cores released out of order or in another thread, the main
thread is left with an unmapped alternate stack and the next Ctrl-C / SIGTERM kills the process with
SIGSEGV (it killed this whole test suite, exit 139, late in three runs). Each scenario runs in a fresh
interpreter (this file's `__main__`), so a crash is an exit status, not the end of pytest. Skipped where
the CPU has no AMX: OpenVINO installs no alternate stack there, so nothing can go wrong or be shown."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import SHARED, require_shared

YOLO_OV = SHARED / "weights" / "yolo11n_int8_openvino_model"
PHOTO_DIR = SHARED / "data" / "coco-mini" / "val2017"


def _has_amx() -> bool:
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and _has_amx()),
                                reason="OpenVINO installs its own signal stack only on AMX CPUs")


def _scenario(name: str) -> subprocess.CompletedProcess:
    require_shared(YOLO_OV)
    return subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parent)


def test_raw_cores_released_out_of_order_kill_the_process_on_the_next_signal():
    """The OpenVINO behaviour the module works around, shown without it: the control."""
    done = _scenario("raw")
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "handled" not in done.stdout


def test_kept_stack_survives_the_same_release_order():
    done = _scenario("kept")
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "handled SIGUSR1" in done.stdout and "stack mapped" in done.stdout


def test_product_runners_and_detector_released_in_a_worker_thread_then_signal():
    """Our pose runner and an OpenVINO detector (ultralytics loads it through its own Core, which we
    replace), both released in another thread, then a signal with a Python handler on the main thread."""
    done = _scenario("product")
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "detected" in done.stdout and "handled SIGUSR1" in done.stdout and "stack mapped" in done.stdout


# --- the scenarios, each in its own interpreter -------------------------------------------------------


def _mapped(address: int) -> bool:
    for line in Path("/proc/self/maps").read_text().splitlines():
        start, end = (int(x, 16) for x in line.split()[0].split("-"))
        if start <= address < end:
            return True
    return False


def _signal_self() -> None:
    from transpose_live.runtime.signal_stack import registered_signal_stack

    registered = registered_signal_stack()
    print("stack mapped" if registered is None or _mapped(registered[0]) else "stack unmapped", flush=True)
    signal.signal(signal.SIGUSR1, lambda *_: print("handled SIGUSR1", flush=True))
    os.kill(os.getpid(), signal.SIGUSR1)


def _loaded_core():
    import openvino as ov

    core = ov.Core()
    core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")  # loads the CPU plugin: its signal stack
    return core


def _main(name: str) -> None:
    from transpose_live.runtime.signal_stack import keep_signal_stack

    if name in ("raw", "kept"):
        first = _loaded_core()
        if name == "kept":
            keep_signal_stack()
        second = _loaded_core()
        if name == "kept":
            keep_signal_stack()
        del first  # out of order: the first Core goes before the second
        gc.collect()
        del second
        gc.collect()
    else:
        import cv2
        import torch

        from transpose_live.backends.runners import OpenVINORunner
        from transpose_live.pipeline.yolo import YoloModel

        runner = OpenVINORunner(next(YOLO_OV.glob("*.xml")), threads=1, precision="bf16")
        runner(torch.zeros(1, 3, 640, 640))
        detector = YoloModel(YOLO_OV, precision="bf16")
        image = cv2.imread(str(sorted(PHOTO_DIR.glob("*.jpg"))[0]))
        print("detected", len(detector.predict(image).boxes), flush=True)
        held = [runner, detector]
        del runner, detector
        worker = threading.Thread(target=lambda: (held.clear(), gc.collect()))
        worker.start()
        worker.join()
    _signal_self()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    _main(sys.argv[1])
