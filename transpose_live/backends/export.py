"""`transpose-live export`: a pose model to ONNX (dynamic batch) or an OpenVINO IR folder, with a
metadata JSON (model, input/heatmap size, keypoint names, flip pairs, sha256 of the source weights).

Precisions: fp32; fp16 (fp16 ONNX / OpenVINO IR with fp16-compressed weights); bf16 (OpenVINO: the f32
IR, marked for bf16 CPUs; the run's --precision decides); int8 (OpenVINO, NNCF post-training
quantisation with calibration crops, `backends.quantize`).

Outputs are built under a temporary name in the target folder and renamed into place when complete.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from transpose_live.backends.metadata import (
    FOLDER_METADATA,
    OPENVINO_XML,
    ExportMetadata,
    file_sha256,
    metadata_path,
)
from transpose_live.errors import UserError, first_line
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.models.registry import ModelSpec
from transpose_live.paths import atomic_dir, write_atomic

FORMATS = ("onnx", "openvino")
OPSET = 17


def onnx_bytes(module: nn.Module, spec: ModelSpec, half: bool = False) -> bytes:
    """The module (eval, CPU) as ONNX bytes: input `crops` (batch, 3, H, W), output `heatmaps`
    (batch, J, h, w), batch dimension dynamic. half: fp16 weights and input/output."""
    import io  # noqa: PLC0415

    module = module.eval().to("cpu", torch.float16 if half else torch.float32)
    h, w = spec.input_size
    example = torch.zeros(1, 3, h, w, dtype=torch.float16 if half else torch.float32)
    buffer = io.BytesIO()
    if importlib.util.find_spec("onnx") is None:
        raise UserError("exporting needs the onnx package; pip install onnx")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer and exporter-deprecation warnings are not the user's business
        torch.onnx.export(module, (example,), buffer, input_names=["crops"], output_names=["heatmaps"],
                          dynamic_axes={"crops": {0: "batch"}, "heatmaps": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def build_metadata(spec: ModelSpec, fmt: str, precision: str, weights, keypoints: KeypointSet = COCO17) -> ExportMetadata:
    source = "random" if weights is None else str(weights)
    sha = None
    if weights is not None:
        path = weights_file(spec, weights)
        sha = file_sha256(path)
    return ExportMetadata(
        model=spec.name, format=fmt, precision=precision, input_size=tuple(spec.input_size),
        heatmap_size=tuple(spec.heatmap_size), keypoints=tuple(keypoints.names),
        flip_pairs=tuple(tuple(p) for p in keypoints.flip_pairs), weights=source, weights_sha256=sha,
        skeleton=tuple(tuple(p) for p in keypoints.skeleton),
    )


def default_out(model: str, fmt: str) -> Path:
    return Path(f"{model}.onnx") if fmt == "onnx" else Path(f"{model}_openvino_model")


def check_export_precision(precision: str | None, fmt: str, half: bool = False) -> str:
    """--precision (and the --half alias) -> fp32|fp16|bf16|int8 for this format, one-line errors."""
    from transpose_live.device import parse_precision  # noqa: PLC0415

    name = parse_precision(precision, half or None)  # the one parser: every spelling, --half as fp16
    if name == "auto":
        name = "fp32"
    if name in ("bf16", "int8") and fmt != "openvino":
        raise UserError(f"--precision {name} exports to OpenVINO; add --format openvino")
    return name


def export_model(model: str | None, weights=None, fmt: str = "onnx", half: bool = False,
                 out: str | Path | None = None, precision: str | None = None, calibration=None) -> Path:
    """Export registry model `model` (None: the one a training checkpoint names) with `weights` (path,
    'official' or None = random); returns the path written (an .onnx file or an OpenVINO folder).
    A training checkpoint's crop size and keypoint set go into the export and its metadata.
    precision: fp32 (default), fp16 (= half), bf16, int8; calibration: for int8, a `Calibration`
    (crops (N, 3, H, W) at the model's input size and where they came from)."""
    from transpose_live.models import load_model, model_info  # noqa: PLC0415

    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; use onnx or openvino")
    precision = check_export_precision(precision, fmt, half)
    if model is not None:
        model_info(model)  # an unknown name is one line before any work
    check_out(out, weights, fmt)
    if fmt == "openvino":
        from transpose_live.backends.openvino_core import import_openvino  # noqa: PLC0415

        import_openvino()  # the one-line install hint before any work
    if precision == "int8":
        from transpose_live.backends.quantize import check_installed  # noqa: PLC0415

        check_installed()
        if calibration is None:
            raise UserError("--precision int8 needs calibration frames: --calibration VIDEO|IMAGE|FOLDER")
    loaded = load_model(model, weights=weights, device="cpu")
    spec = loaded.spec
    out = Path(out) if out is not None else default_out(spec.name, fmt)
    meta = build_metadata(spec, fmt, precision, weights, loaded.keypoints)
    data = onnx_bytes(loaded.module, spec, precision == "fp16")
    if fmt == "onnx":
        write_atomic(out, data, "--out model")
        write_atomic(metadata_path(out), meta.to_json(), "export metadata")
        return out
    if precision == "int8":
        meta = replace(meta, calibration=calibration.describe())
    _write_openvino(data, out, meta, calibration if precision == "int8" else None)
    return out


def check_out(out, weights, fmt: str) -> None:
    """--out is never the input weights, and an .onnx path for --format onnx."""
    if out is not None and weights is not None and str(weights) != "official" and Path(weights).exists() \
            and Path(out).resolve() == Path(weights).resolve():
        raise UserError(f"--out {out} is the input weights file; choose another path")
    if fmt == "onnx" and out is not None and Path(out).suffix != ".onnx":
        raise UserError(f"--out for --format onnx must end in .onnx, got {out}")
    if fmt == "openvino" and out is not None and Path(out).exists() and not (
            Path(out).is_dir() and ((Path(out) / OPENVINO_XML).exists() or not any(Path(out).iterdir()))):
        raise UserError(f"--out {out} exists and is not an OpenVINO export folder; choose another path")


def _write_openvino(data: bytes, out: Path, meta: ExportMetadata, calibration) -> None:
    import openvino as ov  # noqa: PLC0415

    with atomic_dir(out) as tmp:  # a plain folder's mode (the umask applies), renamed into place when complete
        onnx_file = tmp / "model.onnx"
        onnx_file.write_bytes(data)
        try:
            ov_model = ov.convert_model(str(onnx_file))
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"OpenVINO conversion failed: {first_line(exc)[:200]}") from None
        if calibration is not None:
            from transpose_live.backends.quantize import quantize_openvino  # noqa: PLC0415

            ov_model = quantize_openvino(ov_model, calibration.crops)
        ov.save_model(ov_model, str(tmp / OPENVINO_XML), compress_to_fp16=meta.precision == "fp16")
        onnx_file.unlink()
        (tmp / FOLDER_METADATA).write_text(meta.to_json())


def weights_file(spec: ModelSpec, weights) -> Path:
    """The checkpoint file of `weights`: 'official' downloaded (or found in the cache), else the path given."""
    if str(weights) == "official":
        from transpose_live.models.download import download_official  # noqa: PLC0415

        return download_official(spec)
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"weights file not found: {weights}")
    return path
