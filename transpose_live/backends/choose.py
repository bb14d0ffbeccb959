"""`--backend auto|torch|onnxruntime|openvino`: which runtime runs the pose model.

`auto`: an exported file runs on its own runtime (.onnx -> onnxruntime, OpenVINO folder -> openvino);
checkpoints run on torch on CUDA, and on the CPU on OpenVINO when installed (the fastest in fp32 and the
only one with bf16/int8, `precision.cpu_runtime`), else onnxruntime (exported in memory at start-up,
about a second), else torch. Measured on the 2-core CPU at a quiet moment, tp_r_a3, fp32:
torch 77 / onnxruntime 60 / OpenVINO 57 ms at batch 1 (issue #16 measured 63 / 49 / 70), OpenVINO bf16
31 ms, INT8 21 ms; both runtimes are in the default install (docs/precision.md).
`explain` and `--attention` need the attention rows, which only the torch backend returns.
On a GPU (`--device cuda`, or `auto` finding one) an exported file still runs: on its runtime on the CPU,
with a one-line note (the runners are CPU sessions); checkpoints run on torch on the GPU.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from transpose_live.backends.metadata import OPENVINO_XML, ExportMetadata, read_metadata
from transpose_live.backends.precision import cpu_runtime, resolve_precision
from transpose_live.device import parse_precision, resolve_device
from transpose_live.errors import UserError

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")


@dataclass(frozen=True)
class Runtime:
    """Where and how the pose model runs, resolved once (`choose_runtime`): the device, the backend
    (torch, onnxruntime or openvino) and the precision it runs in (fp32, bf16, fp16 or int8, never auto).
    `PoseEstimator.from_runtime` and the person detector take it as given."""

    device: torch.device
    backend: str
    precision: str

    @property
    def half(self) -> bool:
        """fp16 on torch (a CUDA device, or the CPU under `cpu_half_allowed`): what a torch detector follows."""
        return self.backend == "torch" and self.precision == "fp16"


def choose_runtime(device="auto", backend: str | None = None, precision=None, weights=None,
                   need_attention: bool = False, half: bool | None = None) -> Runtime:
    """The one resolution of device, backend and precision (`auto` -> what this machine runs), with
    one-line errors before anything is loaded. precision / half: any spelling `device.parse_precision`
    takes; weights: a checkpoint, an export (its metadata's precision binds), an nn.Module or None."""
    dev = resolve_device(device)
    name = choose_backend(backend, weights, dev, need_attention=need_attention)
    asked = parse_precision(precision, half)
    exported = read_metadata(weights).precision if is_exported(weights) else None
    return Runtime(dev, name, resolve_precision(asked, dev, name, exported))


def is_exported(weights) -> bool:
    """True for an .onnx file, an OpenVINO .xml or a folder holding model.xml."""
    if weights is None or isinstance(weights, torch.nn.Module):
        return False
    p = Path(str(weights))
    return p.suffix in (".onnx", ".xml") or (p.is_dir() and (p / OPENVINO_XML).exists())


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def choose_backend(backend: str, weights, device: torch.device, need_attention: bool = False) -> str:
    """Resolves `auto` and checks the combination; returns torch, onnxruntime or openvino."""
    if backend is None:  # library default: torch, or the exported file's own runtime
        backend = "auto" if is_exported(weights) else "torch"
    name = backend.strip().lower()
    if name not in BACKENDS:
        raise UserError(f"unknown --backend {backend!r}; use {', '.join(BACKENDS)}")
    exported = is_exported(weights)
    if exported:
        fmt = "openvino" if Path(str(weights)).suffix != ".onnx" else "onnx"
        if name == "torch":
            raise UserError(f"{weights} is an exported model; the torch backend needs a checkpoint "
                            f"(.pth, official or random), or pass --backend auto")
        if name == "onnxruntime" and fmt == "openvino":
            raise UserError(f"{weights} is an OpenVINO folder; run it with --backend openvino (or auto)")
        if name == "auto":
            name = "onnxruntime" if fmt == "onnx" else "openvino"
    elif name == "auto":
        name = cpu_runtime() if device.type == "cpu" and not need_attention else "torch"
    if need_attention and name != "torch":
        raise UserError(f"attention maps (explain, --attention) need the torch backend; "
                        f"--backend {name} returns heatmaps only (pass a checkpoint and --backend torch)")
    if name != "torch" and device.type != "cpu":
        print(cpu_runtime_note(name, weights, device), file=sys.stderr)
    return name


def cpu_runtime_note(backend: str, weights, device: torch.device) -> str:
    """One line: a non-torch runtime runs on the CPU even when `device` is a GPU (its runners are CPU
    sessions; the crops and decoding stay on the CPU with it)."""
    what = f"{weights} (exported)" if is_exported(weights) else "the pose model"
    return (f"note: {what} runs on {backend} on the CPU, not on {device}; to use {device}, pass a .pth "
            "checkpoint with --backend torch")


def open_runner(model, weights, backend: str, threads: int, precision: str = "fp32"):
    """(runner, spec, keypoints) for a non-torch backend: a callable crops -> heatmaps (`runner.precision`:
    what it runs in), the model's spec (with its crop size) and its keypoint set. precision: resolved
    (`Runtime.precision`), taken as given.

    model: the registry name asked for (None: whatever the weights hold). weights: an exported file (its
    metadata must name `model` when given), or a checkpoint / 'official' / None (random) / an nn.Module of
    registry model `model` exported in memory now."""
    from transpose_live.backends.runners import OnnxRuntimeRunner  # noqa: PLC0415

    if is_exported(weights):
        meta = read_metadata(weights)
        spec, keypoints = describe_export(meta, model, weights)
        if backend == "onnxruntime":
            return OnnxRuntimeRunner(weights, threads), spec, keypoints
        path = Path(str(weights))
        return _openvino(path / OPENVINO_XML if path.is_dir() else path, threads, precision), spec, keypoints
    if precision == "int8":  # the run commands replace a checkpoint by its INT8 model (pipeline.int8_cache)
        from transpose_live.backends.precision import INT8_HINT, INT8_RANDOM  # noqa: PLC0415

        raise UserError(INT8_RANDOM if weights is None else INT8_HINT + " (or give a run command --int8-calib FRAMES)")
    from transpose_live.backends.export import onnx_bytes  # noqa: PLC0415
    from transpose_live.models import load_model  # noqa: PLC0415

    if isinstance(weights, torch.nn.Module):  # an already-built COCO model (library use, tests)
        from transpose_live.keypoints import COCO17  # noqa: PLC0415
        from transpose_live.models import LoadedModel, model_info  # noqa: PLC0415

        loaded = LoadedModel(weights.eval(), model_info(model), COCO17)
    else:
        loaded = load_model(model, weights, device="cpu")
    data = onnx_bytes(loaded.module, loaded.spec)
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(data, threads), loaded.spec, loaded.keypoints
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="tl-ov-") as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(data)
        return _openvino(path, threads, precision), loaded.spec, loaded.keypoints


def _openvino(path: Path, threads: int, precision: str):
    from transpose_live.backends.precision import cpu_precision  # noqa: PLC0415
    from transpose_live.backends.runners import OpenVINORunner  # noqa: PLC0415

    return OpenVINORunner(path, threads, precision, float_precision=cpu_precision().auto)


def describe_export(meta: ExportMetadata, model, path):
    """(spec, keypoints) of an exported model; one-line errors when it is not the model asked for."""
    from transpose_live.keypoints import KeypointSet  # noqa: PLC0415
    from transpose_live.models import model_info  # noqa: PLC0415

    asked = getattr(model, "name", model)
    if asked is not None and meta.model != asked:
        raise UserError(f"{path} was exported from {meta.model}, not {asked}; pass --model {meta.model} "
                        "(or leave --model out)")
    spec = model_info(meta.model).resized(meta.input_size, meta.heatmap_size)
    return spec, KeypointSet(tuple(meta.keypoints), tuple(tuple(p) for p in meta.skeleton),
                             tuple(tuple(p) for p in meta.flip_pairs))
