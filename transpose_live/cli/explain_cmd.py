"""`transpose-live explain`: panels of the last attention layer at each predicted keypoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.paths import OutputGuard


@run_options("explain")
def explain_command(
    cfg: RunConfig,
    image: Path = typer.Argument(..., help="Image file."),
    box: Optional[str] = typer.Option(None, "--box", help="Person box x1,y1,x2,y2 (default: detect people)."),
    keypoints: str = typer.Option("all", "--keypoints", "-k", help="'all' or names, e.g. left_wrist,nose."),
    threshold: float = typer.Option(0.0, "--threshold", "-t", min=0.0, help="Hide attention below this (paper: 0.01 for R, 0.00075 for H)."),
    columns: int = typer.Option(6, "--columns", min=1, help="Tiles per row in the panel."),
    out: Path = typer.Option(Path("panel.png"), "--out", "-o", help="Panel PNG to write."),
    caption: Optional[str] = typer.Option(None, "--caption", help="Legend text under the colour bar (e.g. which weights)."),
) -> None:
    """Which image regions each predicted keypoint depends on (TransPose's last attention layer); with
    --flip-test the keypoints are averaged with the mirrored crop, the attention is the unflipped crop's."""
    from transpose_live.engine import describe_model, require_attention
    from transpose_live.explain import explain, parse_box, parse_keypoints
    from transpose_live.images import read_image
    from transpose_live.chain import build_chain, check_config

    console = Console()
    check_config(cfg)
    spec, keypoint_set = describe_model(cfg.model, cfg.weights_value)  # a trained checkpoint's own model and keypoints
    require_attention(spec, "explain")
    kpt_ids = parse_keypoints(keypoints, keypoint_set)
    OutputGuard([image]).file(out, "--out panel")
    boxes = parse_box(box) if box else None
    frame = read_image(image)
    chain = build_chain(cfg, detector=boxes is None, need_attention=True)
    scores = None
    if boxes is None:
        boxes, scores = chain.detector(frame)
        if len(boxes) == 0:
            raise UserError("no person detected; pass --box x1,y1,x2,y2 or --detector none")
        boxes, scores = boxes[:cfg.max_persons], scores[:cfg.max_persons]
        console.print(f"{len(boxes)} person(s) to explain", highlight=False)
    result = explain(chain.estimator, frame, boxes, scores, kpt_ids, threshold, max_cols=columns, caption=caption)
    path = result.save(out)
    h, w = result.panel.shape[:2]
    gh, gw = result.poses.attention.shape[-2:]
    console.print(f"wrote {path} ({w}x{h}, {len(result.poses)} person(s) x {len(kpt_ids)} keypoint map(s), "
                  f"token grid {gh}x{gw})", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `explain` to the app."""
    app.command("explain", cls=Command)(explain_command)
