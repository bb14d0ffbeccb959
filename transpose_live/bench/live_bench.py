"""`bench --pipeline VIDEO --cameras N`: the video played as N live cameras (each at the video's own
frame rate, stale frames dropped) through one model, as `webcam` runs several cameras: per camera the
fps reaching the outputs and the capture->output latency p50/p95, and frames/s over all cameras."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from transpose_live.config import RunConfig
from transpose_live.chain import build_chain
from transpose_live.pipeline import PipelineOptions, StreamInput, open_camera, run_stream
from transpose_live.runtime import apply_budget
from transpose_live.tracking import PoseTracker


def bench_cameras(video: str | Path, cfg: RunConfig, cameras: int, max_frames: int | None = None, *,
                  estimator=None, detector=None) -> dict:
    """A JSON-ready summary: per camera frames, fps, latency_p50_ms, latency_p95_ms; all-camera fps.
    estimator / detector: already-built parts to use instead of building `cfg`'s."""
    budget = apply_budget(cfg.threads)
    chain = build_chain(cfg, detector=detector is None) if estimator is None else None
    estimator = estimator or chain.estimator
    detector = detector or chain.detector
    sources = []
    try:
        for i in range(cameras):
            sources.append(open_camera(video, name=str(i)))
    except BaseException:
        for s in sources:
            s.close()
        raise
    inputs = [StreamInput(s, tracker=PoseTracker(smooth=cfg.smooth)) for s in sources]
    result = run_stream(inputs, estimator, detector, PipelineOptions.from_config(cfg, max_frames=max_frames))
    per = [dict(camera=c.index, frames=c.frames, fps=round(c.fps, 2), latency_p50_ms=round(c.latency_p50_ms, 1),
                latency_p95_ms=round(c.latency_p95_ms, 1), dropped=c.dropped) for c in result.sources]
    return dict(video=str(video), cameras=cameras, model=estimator.spec.name, device=str(estimator.device),
                backend=getattr(estimator, "backend", "torch"), threads=budget.as_dict(),
                frames=result.frames, wall_s=round(result.wall_seconds, 3), fps_all_cameras=round(result.fps, 2),
                per_camera=per)


def cameras_table(summary: dict) -> Table:
    table = Table(title=f"{summary['cameras']} cameras x {Path(summary['video']).name} on one {summary['model']} "
                        f"({summary['device']}, {summary['backend']}): {summary['fps_all_cameras']} frames/s in all")
    for name in ("camera", "frames", "fps", "latency p50 ms", "latency p95 ms", "dropped"):
        table.add_column(name, justify="right")
    for c in summary["per_camera"]:
        table.add_row(str(c["camera"]), str(c["frames"]), f"{c['fps']:.1f}", f"{c['latency_p50_ms']:.0f}",
                      f"{c['latency_p95_ms']:.0f}", str(c["dropped"]))
    return table
