"""`transpose-live explain`: panels of the last attention layer at each predicted keypoint."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

import numpy as np
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
    from transpose_live.chain import build_chain, check_config
    from transpose_live.engine import describe_model, require_attention
    from transpose_live.explain import explain_poses, parse_box, parse_keypoints
    from transpose_live.images import read_image
    from transpose_live.pipeline import CallbackWriter, ImageSource, run_pipeline

    console = Console()
    check_config(cfg)
    spec, keypoint_set = describe_model(cfg.model, cfg.weights_value)  # a trained checkpoint's own model and keypoints
    require_attention(spec, "explain")
    kpt_ids = parse_keypoints(keypoints, keypoint_set)
    OutputGuard([image]).file(out, "--out panel")
    boxes = parse_box(box) if box else None
    read_image(image)  # unreadable: one line before any model loads
    source = ImageSource(image)
    chain = build_chain(cfg, detector=boxes is None, need_attention=True)
    detect = chain.detector if boxes is None else (lambda _image: (boxes, np.ones(len(boxes), np.float32)))
    found = []  # the frame stream's one frame: (image, poses with their attention rows)
    run = run_pipeline(source, chain.estimator, detect, writers=[CallbackWriter(lambda f, p: found.append((f.image, p)))],
                 options=chain.pipeline_options(progress=False, return_attention=True, det_every=1))
    if run.interrupted is not None:
        code = 143 if run.interrupted == signal.SIGTERM else 130
        raise UserError(f"interrupted by {'SIGTERM' if code == 143 else 'Ctrl-C'}; nothing written", exit_code=code)
    frame, poses = found[0]
    if boxes is None:
        if len(poses) == 0:
            raise UserError("no person detected; pass --box x1,y1,x2,y2 or --detector none")
        console.print(f"{len(poses)} person(s) to explain", highlight=False)
    result = explain_poses(chain.estimator, frame, poses, kpt_ids, threshold, max_cols=columns, caption=caption)
    path = result.save(out)
    h, w = result.panel.shape[:2]
    gh, gw = result.poses.attention.shape[-2:]
    console.print(f"wrote {path} ({w}x{h}, {len(result.poses)} person(s) x {len(kpt_ids)} keypoint map(s), "
                  f"token grid {gh}x{gw})", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Adds `explain` to the app."""
    app.command("explain", cls=Command)(explain_command)
