"""End-to-end frames/s of the whole chain on a video, with where the time goes per stage.

Stages (see `transpose_live.pipeline.STAGES`): read, detect, pose (crop + model + heatmap decoding),
smooth, render, encode. The annotated video is written to a temporary folder (so render and
encode are measured) and deleted afterwards. The detector and the pose model each run once on a
blank frame before timing starts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.table import Table

from transpose_live.engine import PoseEstimator
from transpose_live.pipeline import STAGES, VideoWriter, build_detector, open_video, run_pipeline
from transpose_live.pipeline.runner import warm_up
from transpose_live.tracking import PoseTracker


def bench_pipeline(video: str | Path, model: str = "tp_r_a4", weights=None, device="auto", half=None,
                   detector: str = "yolo", detector_weights=None, max_frames: int | None = None,
                   flip_test: bool = True, progress: bool = True, console=None) -> dict:
    """Run the chain over `video` and return a JSON-ready summary (see bench/schema.md)."""
    source = open_video(video)
    estimator = PoseEstimator(model=model, weights=weights, device=device, half=half, flip_test=flip_test)
    det = build_detector(detector, weights=detector_weights, device=estimator.device, half=estimator.half)
    warm_up(estimator, det, source)
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        writer = VideoWriter(Path(tmp) / "out.mp4", source.fps, source.size)
        result = run_pipeline(source, estimator, det, tracker=PoseTracker(), writers=[writer],
                              progress=progress, max_frames=max_frames, console=console)
    frames = max(result.frames, 1)
    busy = sum(result.stage_seconds.get(s, 0.0) for s in STAGES) or 1.0
    stages = {
        s: dict(
            calls=result.stage_calls.get(s, 0),
            ms_per_call=round(1000 * result.stage_seconds[s] / result.stage_calls[s], 3)
            if result.stage_calls.get(s) else None,
            ms_per_frame=round(1000 * result.stage_seconds.get(s, 0.0) / frames, 3),
            share=round(result.stage_seconds.get(s, 0.0) / busy, 4),
        )
        for s in STAGES
    }
    return dict(
        video=str(video), model=model, device=str(estimator.device),
        precision="fp16" if estimator.half else "fp32", detector=getattr(det, "name", detector),
        flip_test=flip_test, frames=result.frames, persons=result.persons, detector_runs=result.detector_runs,
        dropped=result.dropped, wall_s=round(result.wall_seconds, 3), fps=round(result.fps, 3), stages=stages,
    )


def pipeline_table(summary: dict) -> Table:
    """Per-stage table: calls, ms per call, ms per frame and share of the busy time."""
    title = (f"{summary['model']} {summary['precision']} on {summary['device']}, detector {summary['detector']}: "
             f"{summary['frames']} frames, {summary['persons']} persons, {summary['fps']:.1f} frames/s end-to-end")
    table = Table(title=title, caption="Stages overlap in three threads, so the end-to-end rate can beat the "
                                       "sum of the per-frame stage times.", caption_justify="left")
    for col in ("stage", "calls", "ms / call", "ms / frame", "share"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, s in summary["stages"].items():
        table.add_row(stage, str(s["calls"]), "-" if s["ms_per_call"] is None else f"{s['ms_per_call']:.1f}",
                      f"{s['ms_per_frame']:.1f}", f"{100 * s['share']:.0f}%")
    return table
