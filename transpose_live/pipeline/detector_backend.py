"""`--detector-backend auto|torch|onnxruntime|openvino`: which runtime runs the YOLO person detector.

`auto` follows the pose backend (`transpose_live.backends.choose_backend`): a torch pose model (CUDA,
or `--backend torch` on the CPU, e.g. for `--attention`) keeps the torch detector; when the pose
model runs exported on the CPU (onnxruntime, the CPU default, or OpenVINO) the detector runs
exported too, on OpenVINO when it is installed (the `openvino` extra), else on onnxruntime, exported
once by ultralytics and cached (`detector_export`). Weights that are already exported (an `.onnx`
file, a `*_openvino_model/` folder) run on their own runtime.

Why (benchmarks/results/detector-cpu.md: yolo11n-pose on the 2-core CPU, shared with other jobs,
two runs of 5 interleaved repetitions): per detector call, OpenVINO (dynamic export) takes 0.42-0.51x
torch's time and onnxruntime 0.63-0.81x at 480 and 640 (the fixed square exports 0.46-1.22x); whole
chain, tp_r_a3 on onnxruntime, squat.mp4: torch detector 5.2-5.3 fps, onnxruntime 5.5-5.7, OpenVINO
6.2-6.4 (pose on OpenVINO: 5.4-5.6 / 5.9-6.2 / 6.3-6.8), so an OpenVINO detector beside an
onnxruntime pose model costs nothing measurable. Boxes: onnxruntime's equal torch's (IoU 1.0);
OpenVINO's IoU >= 0.966 at 640 and >= 0.985 at 480, the same people on every frame.

The person detector's exports run on our runtimes (`yolo_runtime.ExportedYolo`), opened with the thread
budget's `runtime` threads and the pose model's precision. Only the other users of ultralytics with
exported weights (the label teacher, the bench peer, which times ultralytics as its users run it) go
through ultralytics' AutoBackend, which opens onnxruntime with default session options and OpenVINO with
`PERFORMANCE_HINT: LATENCY` on every core; for them `use_runtime_threads` re-opens the loaded session /
compiled model with the budget's threads (ultralytics has no public option for it; `pipeline.yolo.YoloModel`
calls it). `keep_threads`
stays around every YOLO call on any backend (in `YoloModel.predict`): ultralytics' predictor still calls
`select_device` (which sets torch's thread count) and letterboxes / runs NMS with torch and OpenCV.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from transpose_live.errors import UserError

DETECTOR_BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
DYNAMIC_EXPORT = True  # any input shape: letterboxed to a multiple of 32 like torch, not to a square
_FORMAT_BACKEND = {"onnx": "onnxruntime", "openvino": "openvino"}


def choose_detector_backend(backend: str | None, weights, pose_backend: str = "torch", device="cpu") -> str:
    """Resolves `auto` and checks the combination; returns torch, onnxruntime or openvino."""
    from transpose_live.pipeline.detector_export import exported_format

    name = (backend or "auto").strip().lower()
    if name not in DETECTOR_BACKENDS:
        raise UserError(f"unknown --detector-backend {backend!r}; use {', '.join(DETECTOR_BACKENDS)}")
    fmt = exported_format(weights)
    if fmt is not None:
        own = _FORMAT_BACKEND[fmt]
        if name == "auto":
            return own
        if name != own:
            raise UserError(f"detector weights {weights} are an exported {fmt} model: they run on {own}; "
                            f"pass --detector-backend auto (or {own}), or .pt weights")
        return name
    on_cpu = str(device).split(":")[0] == "cpu"
    if name == "auto":
        exported = on_cpu and pose_backend in ("onnxruntime", "openvino")
        name = ("openvino" if importlib.util.find_spec("openvino") else "onnxruntime") if exported else "torch"
    if name != "torch" and not on_cpu:
        raise UserError(f"--detector-backend {name} runs on the CPU here; use --detector-backend torch on {device}")
    return name


def export_format(backend: str) -> str:
    """The ultralytics export format a detector backend runs (onnxruntime -> onnx)."""
    return {"onnxruntime": "onnx", "openvino": "openvino"}[backend]


def use_runtime_threads(yolo, weights: str | Path, threads: int, precision: str | None = None) -> bool:
    """Re-opens the runtime inside a loaded (already predicted-once) ultralytics YOLO with `threads`
    intra-op threads (OpenVINO: in the pose model's `precision`); True when done. Nothing for torch models."""
    predictor = getattr(yolo, "predictor", None)
    backend = getattr(getattr(predictor, "model", None), "backend", None)
    if backend is None:
        return False
    if getattr(backend, "session", None) is not None and hasattr(backend, "output_names"):
        import onnxruntime as ort  # noqa: PLC0415

        from transpose_live.backends.runners import onnxruntime_options  # noqa: PLC0415

        path = Path(str(weights))
        model = next(path.glob("*.onnx")) if path.is_dir() else path
        # no spinning between ops: the cores are shared with the pose model
        backend.session = ort.InferenceSession(str(model), onnxruntime_options(threads),
                                               providers=["CPUExecutionProvider"])
        return True
    if getattr(backend, "ov_compiled_model", None) is not None:
        from transpose_live.backends.openvino_core import openvino_core  # noqa: PLC0415
        from transpose_live.backends.runners import openvino_config  # noqa: PLC0415
        from transpose_live.runtime.signal_stack import keep_signal_stack  # noqa: PLC0415

        path = Path(str(weights))
        xml = path if path.suffix == ".xml" else next(path.glob("*.xml"))
        core = openvino_core()
        from transpose_live.backends.precision import detector_hint  # noqa: PLC0415

        config = openvino_config(threads, detector_hint(precision))
        backend.ov_compiled_model = core.compile_model(core.read_model(str(xml)), "CPU", config)
        backend.compile_model = lambda model, **_: core.compile_model(model, "CPU", config)
        keep_signal_stack()  # ultralytics' own Core (dropped here) loaded the plugin on this thread too
        return True
    return False


def runtime_threads_of(yolo) -> int | None:
    """The intra-op threads of the runtime of a detector model: our `ExportedYolo`, or the runtime inside a
    loaded ultralytics YOLO (None for torch)."""
    if hasattr(yolo, "runtime_threads"):
        return yolo.runtime_threads()
    backend = getattr(getattr(getattr(yolo, "predictor", None), "model", None), "backend", None)
    if getattr(backend, "session", None) is not None and hasattr(backend, "output_names"):
        return backend.session.get_session_options().intra_op_num_threads
    compiled = getattr(backend, "ov_compiled_model", None)
    if compiled is not None:
        return int(compiled.get_property("INFERENCE_NUM_THREADS"))
    return None
