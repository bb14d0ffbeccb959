"""`transpose-live webcam`, `video` and `image`: one frame stream (`transpose_live.pipeline.run_stream`)
behind three kinds of source."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError

if TYPE_CHECKING:
    from transpose_live.pipeline.sinks import Outputs

OUTPUTS = "Outputs"
JSON_HELP = "One JSON line per frame to this file, or - for stdout."
CSV_HELP = "One CSV row per person per frame (box, keypoints)."
CODEC_HELP = "Codec for --out: h264, hevc, vp9 or mp4v."
CAMERA_HELP = "Index, /dev/videoN, rtsp:// or http:// URL, or a video file; NAME=SOURCE; repeat for more."
CRF_HELP = "Quality for --out, lower is better: h264 23, hevc 28, vp9 32, mp4v 4."


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run(kind: str, cfg: RunConfig, open_source, inputs: list, outputs: Outputs, max_frames=None, live=None) -> None:
    """Checks everything cheap first (options, the model's weights, output paths against the inputs, the
    --serve address and port), then opens the sources (`live`: every camera, a `cli.live_run.LiveRequest`),
    builds the chain (detector, pose model, a tracker per source), opens each source's writers and runs
    them all through the one frame stream (`pipeline.stream.run_stream`)."""
    from transpose_live.cli.live_run import open_cameras, print_reps, reconnect_policy, serving
    from transpose_live.pipeline import run_stream
    from transpose_live.runtime import apply_budget

    console = Console(stderr=True)
    every = live.outputs if live else [outputs]
    guard, cameras_3d = _check_before_loading(cfg, inputs, every, [n for n, _ in live.cameras] if live else [])
    apply_budget(cfg.threads)
    show = _window(kind, cfg, console)
    with contextlib.ExitStack() as running:
        sources = open_cameras(live.cameras, reconnect_policy(cfg), console) if live else [open_source()]
        for source in sources:
            running.callback(source.close)
        if outputs.image_dir:
            guard.folder(outputs.image_dir, "--out folder", names=[p.name for p in getattr(sources[0], "paths", [])])
        view = running.enter_context(serving(cfg.serve, [s.name for s in sources], console))
        from transpose_live.chain import build_chain

        chain = build_chain(cfg, calibrate_on=inputs[0] if inputs else None)
        stream = _stream_inputs(chain, sources, every, view, still_images=kind == "image")
        if not show and not outputs.named() and outputs.json != "-" and not cfg.serve \
                and not cfg.osc and not cfg.json3d:
            console.print("warning: no window, --out, --json or --serve: results are not shown or saved"
                          if kind == "webcam" else "warning: no --out, --json, --coco or --csv: results are not saved"
                          if kind == "image" else "warning: no --out, --json or --csv: results are not saved",
                          highlight=False)
        stitch = [chain.stitch_after_run(inputs[0])] if kind == "video" else []
        live_3d = _live_3d(cfg, cameras_3d, sources, view, chain.estimator.keypoints, console)
        result = run_stream(stream, chain.estimator, chain.detector,
                            chain.pipeline_options(show=show, max_frames=max_frames), after_run=stitch,
                            tick_sinks=[live_3d] if live_3d else [], console=console)
    for each in stream:
        print_reps(console, each.overlay, each.name if len(stream) > 1 else None)
    if live_3d is not None:  # before the report, which ends an interrupted run
        console.print(live_3d.summary(), soft_wrap=True, highlight=False, markup=False)
    _report(console, result, every)
    if live and result.all_lost:
        raise UserError("every camera was lost and not recovered (--give-up-after / --no-reconnect); outputs closed",
                        exit_code=1)


def _check_before_loading(cfg: RunConfig, inputs: list, every: list, cameras: list):
    """Option values, the weights (a trained/exported file's own model and keypoints), --attention,
    every output path and the live 3D's calibration against the `cameras` (names), before any model is
    loaded; returns the `OutputGuard` and the 3D camera mapping (`chain.live_3d_cameras`, None without 3D)."""
    from transpose_live.chain import attention_index, check_config, check_weights, live_3d_cameras
    from transpose_live.engine import describe_model
    from transpose_live.paths import OutputGuard

    check_config(cfg)
    spec, keypoints = describe_model(cfg.model, cfg.weights_value)
    attention_index(cfg.attention, spec, keypoints)
    read = [Path(p) for p in (cfg.exercise, cfg.calibration) if p and Path(p).is_file()]
    guard = OutputGuard(inputs + read)
    for each in every:
        _check_outputs(guard, each)
    cameras_3d = live_3d_cameras(cfg, cameras)
    if cameras_3d is not None and cfg.json3d is not None:
        guard.file(cfg.json3d, "--json3d file")
    check_weights(cfg)
    return guard, cameras_3d


def _live_3d(cfg: RunConfig, cameras_3d: dict | None, sources: list, view, keypoints, console):
    """The live 3D sink (`chain.Live3D`), paired at half the frame period of the fastest camera, publishing to
    --json3d and the web view (`view`, None without --serve); None without 3D."""
    if cameras_3d is None:
        return None
    from transpose_live.chain import build_live_3d

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False, markup=False)

    fps = max(float(getattr(s, "fps", 0) or 30.0) for s in sources)
    return build_live_3d(cfg, cameras_3d, fps, view=view, keypoints=keypoints, say=say)


def _stream_inputs(chain, sources: list, every: list, view, still_images: bool) -> list:
    """One `StreamInput` per source: its writers (the one writer factory, `pipeline.sinks.open_writers`; the
    web view's writer too), a tracker and the --exercise overlay. A failure aborts the writers already open."""
    from transpose_live.pipeline import StreamInput, open_writers
    from transpose_live.pipeline.writers import close_writers

    stream = []
    with contextlib.ExitStack() as opening:
        for i, (source, outs) in enumerate(zip(sources, every)):
            outs = dataclasses.replace(outs, stdout=_print_json_record, osc=chain.cfg.osc)
            extra = [lambda i=i: view.writer(i)] if view is not None else []
            writers = open_writers(outs, source, chain.estimator.keypoints, extra)
            opening.callback(close_writers, writers, True)
            stream.append(StreamInput(source, writers, chain.tracker(still_images=still_images), chain.overlay()))
        opening.pop_all()
    return stream


def _check_outputs(guard, outputs: Outputs) -> None:
    """Every output path checked against the inputs (and the video codec) before anything loads."""
    for path, what in ((outputs.video, "--out video"), (outputs.json, "--json file"), (outputs.coco, "--coco file"),
                       (outputs.csv, "--csv file")):
        if path and str(path) != "-":
            guard.file(path, what)
    if outputs.video:
        from transpose_live.media import check_video_output

        check_video_output(outputs.video, outputs.video_options)


def _window(kind: str, cfg: RunConfig, console) -> bool:
    """--show: on by default for webcam when a display exists; off (with a warning) without a display."""
    show = cfg.show if cfg.show is not None else (kind == "webcam" and _has_display())
    if show and not _has_display():
        console.print("warning: no display found; running headless (--show ignored)")
        show = False
    return show


def _report(console, result, every: list) -> None:
    console.print(result.summary(), soft_wrap=True, highlight=False)
    for path in result.skipped:
        console.print(f"warning: skipped unreadable image {path}", soft_wrap=True, highlight=False)
    for text in result.warnings:
        console.print(f"warning: {text}", soft_wrap=True, highlight=False, markup=False)
    named = [name for outputs in every for name in outputs.named()]
    if named:
        console.print(f"wrote {', '.join(named)}", soft_wrap=True, highlight=False)
    if result.interrupted is not None:
        code = 143 if result.interrupted == signal.SIGTERM else 130
        name = "SIGTERM" if code == 143 else "Ctrl-C"
        raise UserError(f"interrupted by {name} after {result.frames} frames; outputs closed", exit_code=code)


def register(app: typer.Typer) -> None:
    """Adds `webcam`, `video` and `image` to the app."""

    @app.command(cls=Command)
    @run_options("webcam")
    def webcam(
        cfg: RunConfig,
        camera: list[str] = typer.Option(["0"], "--camera", "-c", help=CAMERA_HELP),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Record the rendered stream (mp4, real speed).", rich_help_panel=OUTPUTS),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel=OUTPUTS),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP, rich_help_panel=OUTPUTS),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames (per camera)."),
        codec: str = typer.Option("h264", "--codec", help=CODEC_HELP, rich_help_panel=OUTPUTS),
        crf: Optional[int] = typer.Option(None, "--crf", help=CRF_HELP, rich_help_panel=OUTPUTS),
        no_audio: bool = typer.Option(False, "--no-audio", help="Recordings of a camera are always silent.", rich_help_panel=OUTPUTS),
    ) -> None:
        """Live pose estimation from one or more cameras (newest frame only: latency never grows; lost
        streams reconnect). Several cameras: {camera} in output paths."""
        from transpose_live.cli.live_run import LiveRequest, camera_names, per_camera
        from transpose_live.media import EncodeOptions
        from transpose_live.pipeline.sinks import Outputs

        named = camera_names(camera)
        outputs = Outputs(video=out, json=json_out, csv=csv_out, video_options=EncodeOptions(codec, crf, audio=not no_audio))
        live = LiveRequest(named, per_camera(outputs, [n for n, _ in named]))
        _run("webcam", cfg, None, [Path(spec) for _, spec in named if Path(spec).is_file()], outputs,
             max_frames=max_frames, live=live)

    @app.command(cls=Command)
    @run_options("video")
    def video(
        cfg: RunConfig,
        path: Path = typer.Argument(..., help="Input video file."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Rendered video (mp4 with the input's sound and timing).", rich_help_panel=OUTPUTS),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel=OUTPUTS),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP, rich_help_panel=OUTPUTS),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Process only the first N frames."),
        codec: str = typer.Option("h264", "--codec", help=CODEC_HELP, rich_help_panel=OUTPUTS),
        crf: Optional[int] = typer.Option(None, "--crf", help=CRF_HELP, rich_help_panel=OUTPUTS),
        no_audio: bool = typer.Option(False, "--no-audio", help="Drop the input's sound from --out.", rich_help_panel=OUTPUTS),
    ) -> None:
        """Pose estimation on every frame of a video file."""
        from transpose_live.media import EncodeOptions
        from transpose_live.pipeline import open_video
        from transpose_live.pipeline.sinks import Outputs

        outputs = Outputs(video=out, json=json_out, csv=csv_out, video_options=EncodeOptions(codec, crf, audio=not no_audio))
        _run("video", cfg, lambda: open_video(path), [path], outputs, max_frames=max_frames)

    @app.command(cls=Command)
    @run_options("image")
    def image(
        cfg: RunConfig,
        paths: Optional[list[Path]] = typer.Argument(None, help="Images or folders, searched recursively (default: ultralytics' bus.jpg and zidane.jpg)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the rendered images.", rich_help_panel=OUTPUTS),
        coco: Optional[Path] = typer.Option(None, "--coco", help="COCO keypoint results JSON.", rich_help_panel=OUTPUTS),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP, rich_help_panel=OUTPUTS),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP, rich_help_panel=OUTPUTS),
    ) -> None:
        """Pose estimation on images; with no path, on the demo pictures shipped with ultralytics."""
        from transpose_live.pipeline import ImageSource
        from transpose_live.pipeline.sinks import Outputs

        inputs = image_inputs(paths) if paths else _demo_images()
        if not paths:  # the demo: say so, and where the pictures are
            Console(stderr=True).print(f"no image given: running on the demo images shipped with ultralytics "
                                       f"({', '.join(str(p) for p in inputs)}); add --out FOLDER to see them rendered",
                                       soft_wrap=True, highlight=False)
        names = [p.name for p in inputs]
        if out is not None and len(set(names)) < len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise UserError(f"two inputs are named {twice}; their rendered images would share one name in {out}")
        source = inputs[0] if len(inputs) == 1 else inputs
        outputs = Outputs(json=json_out, image_dir=out, coco=coco, csv=csv_out)
        _run("image", cfg, lambda: ImageSource(source), [*(paths or []), *inputs], outputs)


def image_inputs(args: list[Path]) -> list[Path]:
    """`image` arguments -> image files: one file as given; otherwise files, folders (recursive), globs
    and lists expanded as `batch` does, images only. Rendered images keep their names, so two inputs
    with the same name are refused when an --out folder would get both."""
    from transpose_live.batch.inputs import expand_inputs

    if len(args) == 1 and Path(args[0]).is_file():
        return [Path(args[0])]
    images = [item.path for item in expand_inputs(list(args)) if item.kind == "image"]
    if not images:
        raise UserError(f"no images in {' '.join(map(str, args))}")
    return images


def _demo_images() -> list[Path]:
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics.utils import ASSETS

    found = [ASSETS / n for n in ("bus.jpg", "zidane.jpg") if (ASSETS / n).exists()]
    if not found:
        raise UserError(f"the ultralytics demo images are missing from {ASSETS}; give an image path")
    return found


def _print_json_record(record: dict) -> None:
    """One JSON line to stdout (a frame, or a live camera's event line)."""
    from transpose_live.pipeline import EndOfOutput

    try:
        print(json.dumps(record, separators=(",", ":")), flush=True)
    except BrokenPipeError:
        from transpose_live.cli import silence_stdout

        silence_stdout()  # Python's flush at exit then finds no broken pipe
        raise EndOfOutput from None
