"""Pose-model runners for exported models: callables (crops (N, 3, H, W) float tensor) -> heatmaps
(N, J, h, w) float32 tensor on the crops' device. Crops and decoding stay in torch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from transpose_live.backends.openvino_core import openvino_core
from transpose_live.errors import UserError, first_line

ONNXRUNTIME_HINT = "onnxruntime is not installed; pip install onnxruntime (or use --backend torch)"


def _import_onnxruntime():
    try:
        import onnxruntime  # noqa: PLC0415
    except ImportError:
        raise UserError(ONNXRUNTIME_HINT) from None
    return onnxruntime


def onnxruntime_options(threads: int, spin: bool = False):
    """Session options for a CPU model sharing the cores: `threads` intra-op threads, sequential, quiet;
    spin False: threads sleep instead of spinning between ops (far better when the cores are shared)."""
    ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def openvino_config(threads: int, precision: str | None = None) -> dict:
    """OpenVINO CPU compile config for one latency-bound stream on `threads` threads (precision hint if given)."""
    config = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    return config


class OnnxRuntimeRunner:
    """An ONNX file (or bytes) in an onnxruntime CPU session with `threads` intra-op threads."""

    name = "onnxruntime"

    def __init__(self, model: str | Path | bytes, threads: int = 1, spin: bool = False) -> None:
        ort = _import_onnxruntime()
        options = onnxruntime_options(threads, spin)
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            what = "the exported model" if isinstance(model, bytes) else str(model)
            raise UserError(f"onnxruntime cannot load {what}: {first_line(exc)[:200]}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        self.threads = int(threads)
        self.precision = "fp16" if self.input_dtype == np.float16 else "fp32"

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.detach().to("cpu", torch.float32).contiguous().numpy().astype(self.input_dtype, copy=False)
        out = self.session.run(None, {self.input_name: x})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32)).to(crops.device)


_OV_LOCATION = re.compile(r"^(Exception from|Check '.*' failed at) \S+:\d+:?$")


def openvino_reason(exc: BaseException) -> str:
    """What an OpenVINO exception says, without its source locations ("Exception from src/...cpp:84:" lines,
    which come first and mean nothing to a user); a hint where the IR's weights are broken."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if not _OV_LOCATION.match(line)] or lines or [type(exc).__name__]
    reason = "; ".join(said)[:200]
    if "bin file" in reason.lower():
        reason += " (model.bin is missing, truncated or from another export: export the model again)"
    return reason


class OpenVINORunner:
    """An OpenVINO IR (model.xml) or ONNX file compiled for the CPU. precision: fp32 (outputs equal to
    torch), bf16 or fp16 (OpenVINO's INFERENCE_PRECISION_HINT), int8 (a quantised IR: its quantised ops run
    INT8, the rest in `float_precision`). `self.precision` says what OpenVINO actually compiled.

    A model with a dynamic input (the pose models' batch, the YOLO exports' image size) is also compiled
    once per input shape it meets, up to `STATIC_SHAPES` shapes (about 0.2-0.4 s each on 2 cores): OpenVINO's
    static-shape kernels ran 13-18% faster per call than the dynamic model (the detector at 384x640,
    tp_r_a3 at batch 1, bf16, benchmarks/results/peer-goals-*.md). `static_shapes=False` keeps the one
    dynamic model."""

    name = "openvino"
    STATIC_SHAPES = 8

    def __init__(self, model, threads: int = 1, precision: str = "fp32",
                 float_precision: str = "fp32", static_shapes: bool = True) -> None:
        """model: a file (IR .xml or ONNX) or an `openvino.Model` already read (and edited) by the caller."""
        from transpose_live.backends.precision import OPENVINO_HINTS  # noqa: PLC0415

        self._core = openvino_core()
        hint = OPENVINO_HINTS[float_precision if precision == "int8" else precision]
        self._config = openvino_config(threads, hint)
        try:
            self._model = self._core.read_model(str(model)) if isinstance(model, (str, Path)) else model
            self.compiled = self._core.compile_model(self._model, "CPU", self._config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError with long messages
            what = model if isinstance(model, (str, Path)) else model.friendly_name
            raise UserError(f"OpenVINO cannot load {what}: {openvino_reason(exc)}") from None
        self.request = self.compiled.create_infer_request()
        self.threads = int(threads)
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # e.g. "bf16", "f32"
        floats = {v: k for k, v in OPENVINO_HINTS.items()}.get(ran, ran)
        self.precision = "int8" if precision == "int8" else floats
        self.static_shapes = bool(static_shapes) and self.compiled.input(0).get_partial_shape().is_dynamic
        self._by_shape: dict[tuple, tuple] = {}  # input shape -> (compiled, request); None: that shape failed

    def _for_shape(self, shape: tuple):
        """(compiled model, infer request) for inputs of `shape`: its own static compile where possible."""
        if not self.static_shapes:
            return self.compiled, self.request
        hit = self._by_shape.get(shape, False)
        if hit is False and len(self._by_shape) < self.STATIC_SHAPES:
            try:
                model = self._model.clone()
                model.reshape({0: list(shape)})
                compiled = self._core.compile_model(model, "CPU", self._config)
                hit = (compiled, compiled.create_infer_request())
            except Exception:  # noqa: BLE001 - a shape the model cannot take statically runs dynamic
                hit = None
            self._by_shape[shape] = hit
        return hit or (self.compiled, self.request)

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        x = crops.detach().to("cpu", torch.float32).contiguous().numpy()
        compiled, request = self._for_shape(tuple(x.shape))
        out = request.infer({0: x})[compiled.output(0)]
        return torch.from_numpy(np.array(out, dtype=np.float32)).to(crops.device)
