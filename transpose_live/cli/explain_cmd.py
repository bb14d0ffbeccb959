"""`transpose-live explain`: panels of the last attention layer at each predicted keypoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import DeviceOpt, WeightsOpt, weights_arg
from transpose_live.errors import UserError
from transpose_live.paths import OutputGuard
from transpose_live.models.registry import DEFAULT_MODEL, transpose_models


def explain_command(
    image: Path = typer.Argument(..., help="Image file."),
    box: Optional[str] = typer.Option(None, "--box", help="Person box x1,y1,x2,y2 (default: detect people)."),
    detector: str = typer.Option("yolo", "--detector", help="Without --box: yolo, or none (whole image is one person)."),
    detector_weights: Optional[str] = typer.Option(None, "--detector-weights", help="YOLO weights file for the person detector."),
    max_persons: int = typer.Option(3, "--max-persons", min=1, help="Explain at most this many detected people (highest score first)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", show_default=False, help=f"A TransPose model: {', '.join(transpose_models())} [default: the one a trained --weights file names, else {DEFAULT_MODEL}]."),
    weights: str = WeightsOpt,
    device: str = DeviceOpt,
    keypoints: str = typer.Option("all", "--keypoints", "-k", help="'all' or names, e.g. left_wrist,nose."),
    threshold: float = typer.Option(0.0, "--threshold", "-t", min=0.0, help="Hide attention below this value (paper: 0.01 for R, 0.00075 for H)."),
    flip_test: bool = typer.Option(False, "--flip-test/--no-flip-test", help="Average keypoints with the mirrored crop (attention is from the unflipped crop)."),
    columns: int = typer.Option(6, "--columns", min=1, help="Tiles per row in the panel."),
    out: Path = typer.Option(Path("panel.png"), "--out", "-o", help="Panel PNG to write."),
    caption: Optional[str] = typer.Option(None, "--caption", help="Legend text under the colour bar (e.g. which weights)."),
) -> None:
    """Which image regions each predicted keypoint depends on (TransPose's last attention layer)."""
    from transpose_live.device import resolve_device, resolve_half
    from transpose_live.explain import explain, parse_box, parse_keypoints
    from transpose_live.images import read_image
    from transpose_live.engine import describe_model, require_attention

    console = Console()
    spec, keypoint_set = describe_model(model, weights_arg(weights))  # a trained checkpoint's own model and keypoints
    require_attention(spec, "explain")
    kpt_ids = parse_keypoints(keypoints, keypoint_set)
    OutputGuard([image]).file(out, "--out panel")
    boxes = parse_box(box) if box else None
    frame = read_image(image)
    dev = resolve_device(device)
    half = resolve_half(None, dev)
    from transpose_live.engine import PoseEstimator

    estimator = PoseEstimator(model=model, weights=weights_arg(weights), device=dev, half=half, flip_test=flip_test)
    scores = None
    if boxes is None:
        boxes, scores = _detect(frame, detector, detector_weights, dev, half, max_persons)
        console.print(f"{len(boxes)} person(s) to explain", highlight=False)
    result = explain(estimator, frame, boxes, scores, kpt_ids, threshold, max_cols=columns, caption=caption)
    path = result.save(out)
    h, w = result.panel.shape[:2]
    gh, gw = result.poses.attention.shape[-2:]
    console.print(f"wrote {path} ({w}x{h}, {len(result.poses)} person(s) x {len(kpt_ids)} keypoint map(s), "
                  f"token grid {gh}x{gw})", soft_wrap=True, highlight=False)


def _detect(frame, detector: str, detector_weights, device, half, max_persons: int):
    """Person boxes from the pipeline's detector (the whole image with --detector none)."""
    from transpose_live.pipeline.detector import build_detector

    boxes, scores = build_detector(detector, detector_weights, device=device, half=half)(frame)
    if len(boxes) == 0:
        raise UserError("no person detected; pass --box x1,y1,x2,y2 or --detector none")
    return boxes[:max_persons], scores[:max_persons]


def register(app: typer.Typer) -> None:
    """Adds `explain` to the app."""
    app.command("explain")(explain_command)
