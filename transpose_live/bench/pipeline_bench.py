"""End-to-end frames/s of the whole chain on a video, with where the time goes per stage, and the
same frames through a peer (ultralytics YOLO-pose, `YOLO(weights)(frame)` per frame) in the same run.

Stages (see `transpose_live.pipeline.STAGES`): read, detect, pose (crop + model + heatmap decoding),
smooth, render, encode. With `render=True` the annotated video is written to a temporary folder (so
render and encode are measured) and deleted afterwards; the peer then also draws its result
(`Results.plot()`) and encodes it. The detector, the pose model and the peer each run once on a
blank frame before timing starts. Both sides run under the same thread budget
(`transpose_live.runtime`), which is re-asserted after every ultralytics call.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.pipeline import STAGES, Outputs, PipelineOptions, open_video, open_writers, run_pipeline
from transpose_live.chain import Runtime, build_chain, build_person_detector
from transpose_live.pipeline.stream import warm_up
from transpose_live.runtime import active_budget, apply_budget
from transpose_live.tracking import PoseTracker


def bench_pipeline(video: str | Path, cfg: RunConfig | None = None, *, estimator=None, det=None,
                   max_frames: int | None = None, render: bool = True, progress: bool = True, console=None,
                   **values) -> dict:
    """Run the chain of `cfg` (default: `RunConfig.for_command("bench")`, `values` on top) over `video`
    and return a JSON-ready summary (see bench/schema.md).

    estimator / det: already-built parts to reuse (then the model and detector options are only recorded)."""
    cfg = (cfg or RunConfig.for_command("bench")).replace(**values)
    budget = apply_budget(cfg.threads)
    source = open_video(video)
    try:
        if estimator is None:
            chain = build_chain(cfg, detector=det is None, calibrate_on=video)
            estimator, det = chain.estimator, det or chain.detector
        elif det is None:  # the detector follows the given estimator's device, precision and backend
            det = build_person_detector(cfg, estimator.runtime)
        warm_up(estimator, det, source)
    except BaseException:
        source.close()
        raise
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        writers = open_writers(Outputs(video=Path(tmp) / "out.mp4") if render else Outputs(), source,
                               estimator.keypoints)
        options = PipelineOptions.from_config(cfg, progress=progress, max_frames=max_frames)
        result = run_pipeline(source, estimator, det, tracker=PoseTracker(smooth=cfg.smooth), writers=writers,
                              options=options, console=console)
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
        video=str(video), model=estimator.spec.name, device=str(estimator.device),
        backend=getattr(estimator, "backend", "torch"),
        precision=getattr(estimator, "precision", "fp16" if estimator.half else "fp32"), detector=getattr(det, "name", cfg.detector),
        detector_backend=getattr(det, "backend", None),
        detector_imgsz=getattr(det, "imgsz", None), det_every=cfg.det_every, kpt_thr=cfg.kpt_thr, render=render,
        flip_test=estimator.flip_test, threads=(active_budget() or budget).as_dict(), frames=result.frames, persons=result.persons,
        detector_runs=result.detector_runs, dropped=result.dropped, wall_s=round(result.wall_seconds, 3),
        fps=round(result.fps, 3), stages=stages,
    )


class PeerModel:
    """The peer: ultralytics YOLO-pose called per frame as a laptop user would (`YOLO(w)(frame)`,
    its own defaults) on `device` (fp16 on CUDA, as `half=True` there), with the thread budget kept."""

    def __init__(self, weights: str | Path, device="cpu") -> None:
        from transpose_live.pipeline.yolo import YoloModel  # noqa: PLC0415

        if not Path(weights).exists():
            raise UserError(f"--peer weights not found: {weights}")
        self.yolo = YoloModel(weights, "--peer weights", "pass ultralytics pose weights, e.g. yolo11n-pose.pt")
        self.model = self.yolo.model
        self.name = self.yolo.name
        self.device = "cpu" if self.yolo.exported else str(device)
        self.half = self.device.startswith("cuda")

    def __call__(self, frame: np.ndarray):
        return self.yolo.predict(frame, device=self.device, half=self.half)


def bench_peer(video: str | Path, peer, max_frames: int | None = None, render: bool = False,
               threads: int | None = None) -> dict:
    """Frames/s of the peer over the same frames: decode -> predict (-> plot -> encode)."""
    import cv2  # noqa: PLC0415

    budget = apply_budget(threads)
    if not isinstance(peer, PeerModel):
        peer = PeerModel(peer)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise UserError(f"cannot open video {video}")
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 30.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    peer(np.zeros((size[1], size[0], 3), np.uint8))  # warm-up, untimed
    frames = persons = 0
    with tempfile.TemporaryDirectory(prefix="tl-peer-") as tmp:
        writer = cv2.VideoWriter(str(Path(tmp) / "peer.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps_in, size) \
            if render else None
        t0 = time.perf_counter()
        while max_frames is None or frames < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            result = peer(frame)
            persons += 0 if result.boxes is None else len(result.boxes)
            if writer is not None:
                writer.write(result.plot())
            frames += 1
        wall = time.perf_counter() - t0
        if writer is not None:
            writer.release()
    cap.release()
    return dict(video=str(video), peer=peer.name, device=peer.device, render=render, threads=budget.as_dict(), frames=frames,
                persons=persons, wall_s=round(wall, 3), fps=round(frames / wall, 3) if wall > 0 else 0.0)


def pipeline_table(summary: dict) -> Table:
    """Per-stage table: calls, ms per call, ms per frame and share of the busy time."""
    title = (f"{summary['model']} {summary['precision']} on {summary['device']} ({summary.get('backend', 'torch')}), "
             f"detector {summary['detector']}: {summary['frames']} frames, {summary['persons']} persons, "
             f"{summary['fps']:.1f} frames/s end-to-end")
    table = Table(title=title, caption="Stages overlap in three threads, so the end-to-end rate can beat the "
                                       "sum of the per-frame stage times.", caption_justify="left")
    for col in ("stage", "calls", "ms / call", "ms / frame", "share"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for stage, s in summary["stages"].items():
        table.add_row(stage, str(s["calls"]), "-" if s["ms_per_call"] is None else f"{s['ms_per_call']:.1f}",
                      f"{s['ms_per_frame']:.1f}", f"{100 * s['share']:.0f}%")
    return table
