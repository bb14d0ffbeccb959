"""`transpose-live bench`: params, GFLOPs and speed of the pose models (or of the whole pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.models.registry import ATTENTION_IMPLS
from transpose_live.paths import OutputGuard, write_atomic
from transpose_live.tables import print_table

QUICK_WARMUP, QUICK_ITERS, QUICK_FRAMES = 1, 3, 60
DEFAULT_WARMUP, DEFAULT_ITERS = 3, 20
PIPELINE_MODEL = "tp_r_a4"


PIPE = "With --pipeline"
FRONT = "With --front"
FRONT_FRAMES = 60  # bench.front.DEFAULT_FRAMES (kept here so --help needs no import)


@run_options("bench")
def bench(
    cfg: RunConfig,
    models: str = typer.Option(
        None, "--models", help=f"Comma-separated model names, or 'all' (default: all; {PIPELINE_MODEL} with --pipeline)."),
    batch: str = typer.Option("1,8,32", "--batch", "-b", help="Comma-separated batch sizes (crops per forward)."),
    warmup: int = typer.Option(None, "--warmup", min=0, help=f"Untimed forwards per run (default: {DEFAULT_WARMUP})."),
    iters: int = typer.Option(None, "--iters", min=1, help=f"Timed forwards per run (default: {DEFAULT_ITERS})."),
    json_out: Path = typer.Option(None, "--json", help="Also write the records here."),
    quick: bool = typer.Option(
        False, "--quick", help=f"{QUICK_WARMUP} warm-up and {QUICK_ITERS} timed forwards per run "
                               f"({QUICK_FRAMES} frames with --pipeline)."),
    attention: str = typer.Option(
        "fused", "--attention",
        help="fused: our runs only. reference: also time reference-style TransPose (fp32, batch 1, "
             "materialised attention) and show our speed-up.",
    ),
    pipeline: Path = typer.Option(None, "--pipeline", help="Time the whole chain on this video instead, per stage.",
                                  rich_help_panel=PIPE),
    max_frames: int = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames.", rich_help_panel=PIPE),
    peer: Path = typer.Option(None, "--peer", help="Also run this ultralytics pose model (e.g. yolo11n-pose.pt) on the same frames and threads.",
                              rich_help_panel=PIPE),
    render: bool = typer.Option(True, "--render/--no-render", help="Draw and encode an mp4 (both sides).",
                                rich_help_panel=PIPE),
    cameras: int = typer.Option(None, "--cameras", min=1, help="Play the video as N live cameras on one model: "
                                "fps and latency p50/p95 per camera.", rich_help_panel=PIPE),
    front: Path = typer.Option(None, "--front", help="The speed-accuracy front on this video: end-to-end fps of "
                               "our models at each precision this CPU runs and of the YOLO11/YOLO26-pose models "
                               "(--model detector), beside their published COCO AP (--models picks; "
                               f"{FRONT_FRAMES} frames each unless --max-frames).", rich_help_panel=FRONT),
    plot: Path = typer.Option(None, "--plot", help="With --front: also draw fps vs AP, one line per family, "
                              "into this PNG.", rich_help_panel=FRONT),
) -> None:
    """Measure params, GFLOPs (vs the paper), ms/batch and crops/s of the pose models."""
    console = Console()
    from transpose_live.bench import BenchConfig, environment, parse_batches, parse_models, rich_table, run_grid, write_json
    from transpose_live.backends import choose_runtime
    from transpose_live.device import parse_precision

    if attention not in ATTENTION_IMPLS:
        raise UserError(f"--attention must be one of {', '.join(ATTENTION_IMPLS)}, got {attention!r}")
    if json_out is not None:  # checked before the (long) benchmark runs
        OutputGuard([pipeline, cfg.detector_weights, peer]).file(json_out, "--json file")
    if front is not None:
        _bench_front(console, cfg, front, models, (max_frames, render), (json_out, plot))
        return
    if plot is not None:
        raise UserError("--plot draws the speed-accuracy front; use it with --front VIDEO")
    if pipeline is not None:
        frames = max_frames if max_frames is not None else (QUICK_FRAMES if quick else None)
        if cameras is not None:
            _bench_cameras(console, cfg, pipeline, models, cameras, frames, json_out)
        else:
            _bench_pipeline(console, cfg, pipeline, models, frames, json_out, peer=peer, render=render)
        return
    if cameras is not None:
        raise UserError("--cameras plays a video as live cameras; use it with --pipeline VIDEO")
    asked = parse_precision(cfg.precision, cfg.half)
    if asked not in ("auto", "fp32", "fp16"):
        raise UserError(f"the model grid times torch in fp32/fp16; --precision {asked} runs on OpenVINO: "
                        "time it with --pipeline VIDEO (or benchmarks/backends_cpu.py --precisions bf16,int8)")
    runtime = choose_runtime(cfg.device, "torch", asked)  # the grid times torch modules
    dev, half = runtime.device, runtime.half
    if peer is not None:
        raise UserError("--peer compares whole pipelines; use it with --pipeline VIDEO")
    if cfg.weights_value is not None:
        raise UserError("--weights only applies with --pipeline (model speed does not depend on the weights)")
    config = BenchConfig(
        models=parse_models(models or "all"), device=dev, half=half, batches=parse_batches(batch),
        warmup=warmup if warmup is not None else (QUICK_WARMUP if quick else DEFAULT_WARMUP),
        iters=iters if iters is not None else (QUICK_ITERS if quick else DEFAULT_ITERS),
        attention=attention,
    )
    env = environment(dev)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        records = run_grid(config, progress)
    title = f"transpose-live bench on {env['device_name']} ({dev}, {config.precision}, {env['threads']} threads)"
    print_table(console, rich_table(records, title=title))
    if json_out is not None:
        path = write_json(json_out, records, env)
        console.print(f"wrote {len(records)} records to {path}", soft_wrap=True)


def _bench_pipeline(console, cfg: RunConfig, video: Path, models, max_frames, json_out, peer, render: bool) -> None:
    from transpose_live.bench import environment, parse_models
    from transpose_live.bench.pipeline_bench import PeerModel, bench_peer, bench_pipeline, pipeline_table
    from transpose_live.chain import check_config, resolve_runtime

    names = parse_models(models or PIPELINE_MODEL)
    if len(names) != 1:
        raise UserError("--pipeline times one pose model; pass a single name to --models")
    if not Path(video).is_file():
        raise UserError(f"video not found: {video}")
    cfg = cfg.replace(model=names[0])
    check_config(cfg)
    device = resolve_runtime(cfg).device
    peer = PeerModel(peer, device) if peer is not None else None  # a bad path fails before any work
    summary = bench_pipeline(video, cfg, max_frames=max_frames, console=console, render=render)
    print_table(console, pipeline_table(summary))
    out = dict(schema_version=1, environment=environment(device), pipeline=summary)
    if peer is not None:
        peer_summary = bench_peer(video, peer, max_frames=summary["frames"], render=render, threads=cfg.threads)
        ratio = summary["fps"] / peer_summary["fps"] if peer_summary["fps"] else None
        out.update(peer=peer_summary, ratio=None if ratio is None else round(ratio, 3))
        console.print(f"transpose-live {summary['fps']:.1f} fps | peer {peer_summary['peer']} "
                      f"{peer_summary['fps']:.1f} fps | ratio {ratio:.2f}x (same {summary['frames']} frames, "
                      f"{summary['threads']['torch']} threads)", soft_wrap=True, highlight=False)
    if json_out is not None:
        write_atomic(json_out, json.dumps(out, indent=1) + "\n", "--json file")
        console.print(f"wrote {json_out}", soft_wrap=True)


def _bench_front(console, cfg: RunConfig, video: Path, models, run: tuple, outputs: tuple) -> None:
    """run: (max frames, render); outputs: (--json, --plot) paths or None."""
    from transpose_live.backends.precision import cpu_precision
    from transpose_live.bench import environment
    from transpose_live.bench.front import FrontBench, front_plot, front_runs, front_table, parse_front_models
    from transpose_live.chain import check_config, resolve_runtime

    (max_frames, render), (json_out, plot) = run, outputs
    if not Path(video).is_file():
        raise UserError(f"--front video not found: {video}")
    guard = OutputGuard([video, cfg.detector_weights])
    for path, what in ((json_out, "--json file"), (plot, "--plot file")):
        if path is not None:
            guard.file(path, what)
    check_config(cfg)
    points = front_runs(parse_front_models(models), cfg.precision)
    records = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with FrontBench(video, cfg, max_frames or FRONT_FRAMES, render, console) as bench, \
            Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("front", total=len(points))
        for point in points:
            progress.update(task, description=f"{point.model} {point.precision}")
            records.append(bench.run(point))
            progress.advance(task)
    env = dict(environment(resolve_runtime(cfg).device), cpu=cpu_precision().describe())
    title = (f"speed-accuracy front on {Path(video).name}: {records[0]['frames']} frames per model, "
             f"{env['threads']} threads, {env['cpu']}")
    print_table(console, front_table(records, title))
    if json_out is not None:
        out = dict(schema_version=1, environment=env, front=dict(video=str(video), records=records))
        write_atomic(json_out, json.dumps(out, indent=1) + "\n", "--json file")
        console.print(f"wrote {json_out}", soft_wrap=True)
    if plot is not None:
        front_plot(records, plot, title)
        console.print(f"wrote {plot}", soft_wrap=True)


def _bench_cameras(console, cfg: RunConfig, video: Path, models, cameras: int, max_frames, json_out) -> None:
    from transpose_live.bench import environment, parse_models
    from transpose_live.bench.live_bench import bench_cameras, cameras_table

    names = parse_models(models or PIPELINE_MODEL)
    if len(names) != 1 or not Path(video).is_file():
        raise UserError("--cameras times one pose model (a single --models name) on an existing video file")
    summary = bench_cameras(video, cfg.replace(model=names[0]), cameras, max_frames)
    print_table(console, cameras_table(summary))
    if json_out is not None:
        import torch

        out = dict(schema_version=1, environment=environment(torch.device(summary["device"])), live_cameras=summary)
        write_atomic(json_out, json.dumps(out, indent=1) + "\n", "--json file")
        console.print(f"wrote {json_out}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds `bench`."""
    app.command("bench", cls=Command)(bench)
