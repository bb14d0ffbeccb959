"""`transpose-live export`: a pose model to ONNX or OpenVINO (see transpose_live.backends.export), in fp32,
fp16, bf16 or INT8 (NNCF, calibrated on the user's frames), optionally verified against fp32."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, weights_arg
from transpose_live.errors import UserError


def export(
    model: Optional[str] = typer.Argument(None, show_default=False, help="Registry model name (see `transpose-live models`) [default: the one a trained --weights file names, else tp_r_a4]."),
    weights: str = typer.Option("official", "--weights", "-w", help="Checkpoint path, 'official' or 'random'."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (one .onnx file) or openvino (an IR folder)."),
    precision: Optional[str] = typer.Option(None, "--precision", show_default=False, help="fp32 (default), fp16, bf16 (OpenVINO, for bf16 CPUs) or int8 (OpenVINO, NNCF post-training quantisation; needs --calibration)."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="int8: a video, image or image folder with people; the project's detector and crop code make the calibration crops."),
    calibration_frames: int = typer.Option(120, "--calibration-frames", min=1, help="int8: at most this many frames (spread over the video) or images."),
    verify: bool = typer.Option(False, "--verify", help="Measure the export against fp32 on --images: AP before/after with --annotations, else keypoint drift; stored in the metadata."),
    images: Optional[Path] = typer.Option(None, "--images", help="--verify: a folder of images."),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="--verify: COCO keypoint annotations of --images (AP with ground-truth boxes)."),
    max_images: int = typer.Option(200, "--max-images", min=1, help="--verify: at most this many images (first by id / name)."),
    detector_weights: Optional[str] = typer.Option(None, "--detector-weights", help="Person detector for --calibration and --verify without annotations (default: yolo11n.pt, or $TRANSPOSE_LIVE_DETECTOR)."),
    half: bool = typer.Option(False, "--half/--no-half", help="Alias of --precision fp16 (fp16 weights, for GPUs / OpenVINO's compressed IR)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output path [default: MODEL.onnx or MODEL_openvino_model/]."),
) -> None:
    """Export a pose model (dynamic batch) with a metadata JSON; run it with `--weights PATH`."""
    from transpose_live.backends import export_model
    from transpose_live.backends.export import check_export_precision

    console = Console(stderr=True)
    name = check_export_precision(precision, fmt.strip().lower(), half)
    _check_inputs(name, calibration, verify, images, annotations)
    calib = None
    if name == "int8":
        calib = _calibration(model, weights, (calibration, calibration_frames), detector_weights, console)
    with console.status(f"exporting {model or weights} to {fmt} ({name})"):
        path = export_model(model, weights=weights_arg(weights), fmt=fmt, out=out, precision=name, calibration=calib)
    if calib is not None:
        from transpose_live.backends.quantize import INT8_NO_GAIN, int8_pays

        if not int8_pays():
            console.print(INT8_NO_GAIN, highlight=False, soft_wrap=True)
        console.print(f"calibrated on {len(calib.crops)} person crops from {calib.frames} frames of {calibration}",
                      highlight=False, soft_wrap=True)
    if verify:
        _verify(path, (model, weights, detector_weights), (images, annotations, max_images), console)
    console.print(f"wrote {path} (run it with --weights {path})", soft_wrap=True, highlight=False)


def _check_inputs(precision: str, calibration, verify: bool, images, annotations) -> None:
    if precision == "int8" and calibration is None:
        raise UserError("--precision int8 needs calibration frames: --calibration VIDEO|IMAGE|FOLDER with people in it")
    if calibration is not None and precision != "int8":
        raise UserError("--calibration is for --precision int8")
    if calibration is not None and not calibration.exists():
        raise UserError(f"--calibration path not found: {calibration}")
    if verify and images is None:
        raise UserError("--verify needs --images DIR (and --annotations FILE for AP)")
    if not verify and (images is not None or annotations is not None):
        raise UserError("--images/--annotations are for --verify")
    if images is not None and not images.is_dir():
        raise UserError(f"--images folder not found: {images}")
    if annotations is not None and not annotations.is_file():
        raise UserError(f"--annotations file not found: {annotations}")


def _calibration(model, weights, calibration: tuple, detector_weights, console: Console):
    """calibration: (path, most frames)."""
    from transpose_live.engine import describe_model
    from transpose_live.pipeline.calibration import calibration_crops

    spec, _ = describe_model(model, weights_arg(weights))
    path, frames = calibration
    with console.status(f"making calibration crops from {path}"):
        return calibration_crops(path, tuple(spec.input_size), detector_weights, max_frames=frames)


def _verify(path: Path, source: tuple, data: tuple, console: Console) -> None:
    """source: (model, weights, detector weights), data: (images, annotations, most images) as given."""
    from transpose_live.backends.metadata import metadata_path, read_metadata
    from transpose_live.evaluation.export_verify import verify_export, verify_table
    from transpose_live.paths import write_atomic
    from transpose_live.tables import print_table

    with console.status(f"verifying {path} against fp32 on {data[0]}"):
        model, weights, detector_weights = source
        images, annotations, max_images = data
        record = verify_export(path, model, weights_arg(weights), images, annotations, max_images=max_images,
                               detector_weights=detector_weights)
    write_atomic(metadata_path(path), replace(read_metadata(path), verify=record).to_json(), "export metadata")
    what = f"{record['images']} images, {record['people']} people, {record['boxes']} boxes"
    print_table(Console(), verify_table(record, f"{path.name}: {record['precision']} on {record['runtime']} vs fp32 ({what})"),
                text_columns=(0,))


def register(app: typer.Typer) -> None:
    """Adds `export`."""
    app.command("export", cls=Command)(export)
