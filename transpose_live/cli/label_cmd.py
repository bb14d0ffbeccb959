"""`transpose-live label`: COCO keypoint annotations of your own footage from a teacher pose model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from transpose_live.cli.options import Command, DeviceOpt
from transpose_live.errors import UserError
from transpose_live.labelling.label import Selection


def label_command(
    inputs: List[Path] = typer.Argument(..., help="Videos, image folders or images."),
    teacher: Path = typer.Option(..., "--teacher", help="Ultralytics pose weights: a .pt (e.g. yolo11n-pose.pt), .onnx or *_openvino_model/ folder."),
    out: Path = typer.Option(..., "--out", "-o", help="COCO keypoint annotations JSON to write."),
    images_out: Optional[Path] = typer.Option(None, "--images-out", help="Folder for the labelled frames (default: OUT_images beside --out)."),
    every: int = typer.Option(1, "--every", min=1, help="Label every N-th video frame."),
    min_score: float = typer.Option(Selection.min_score, "--min-score", help="Keep people whose box scores at least this."),
    kpt_thr: float = typer.Option(Selection.kpt_thr, "--kpt-thr", help="Keypoints scoring at least this are visible (v=2)."),
    min_keypoints: int = typer.Option(5, "--min-keypoints", min=1, help="Keep people with at least this many visible keypoints."),
    device: str = DeviceOpt,
    precision: str = typer.Option("auto", "--precision", help="Teacher precision: auto (fp16 on CUDA), fp32 or fp16."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Label frames with a teacher pose model (distillation data for `train`)."""
    from rich.console import Console

    from transpose_live.device import resolve_device
    from transpose_live.labelling import label_sources
    from transpose_live.labelling.label import Selection, check_outputs
    from transpose_live.labelling.teacher import PoseTeacher

    console = Console(stderr=True)
    images_dir = images_out or out.with_name(out.stem + "_images")
    check_outputs(out, images_dir, overwrite)  # before loading the teacher
    dev = resolve_device(device)
    half = teacher_half(precision, dev)
    result = label_sources(list(inputs), PoseTeacher(teacher, device=str(dev), half=half), out, images_dir, every,
                           Selection(min_score, kpt_thr, min_keypoints), overwrite, progress, console)
    console.print(f"wrote {result.annotations}: {result.people} people in {result.images} images "
                  f"(frames in {result.images_dir})", soft_wrap=True, highlight=False)


def teacher_half(precision: str, device) -> bool:
    """--precision for the ultralytics teacher: auto (fp16 on CUDA), fp32, or fp16 (CUDA only)."""
    from transpose_live.device import parse_precision

    name = parse_precision(precision)  # the one parser: half, float16, full, ... as everywhere
    if name not in ("auto", "fp32", "fp16"):
        raise UserError(f"the teacher (ultralytics) runs fp32 or fp16 (CUDA); --precision {precision} is not available")
    if name == "fp16" and device.type != "cuda":
        raise UserError("--precision fp16 for the teacher needs CUDA; use auto or fp32 on the CPU")
    return device.type == "cuda" and name != "fp32"


def register(app: typer.Typer) -> None:
    """Adds `label` to the app."""
    app.command("label", cls=Command)(label_command)
