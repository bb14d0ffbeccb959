"""`transpose-live webcam`, `video` and `image`: one pipeline (transpose_live.pipeline.run_pipeline)
behind three sources."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError

OUTPUTS = "Outputs"
JSON_HELP = "One JSON line per frame to this file, or - for stdout."
CSV_HELP = "One CSV row per person per frame (box, keypoints)."
CODEC_HELP = "Codec for --out: h264 (plays everywhere), hevc, vp9 or mp4v."
CAMERA_HELP = "Index, /dev/videoN, rtsp:// or http:// URL, or a video file; NAME=SOURCE; repeat for more."
CRF_HELP = "Quality for --out, lower is better: h264 23, hevc 28, vp9 32, mp4v 4."


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class Outputs:
    """What a run command was asked to write (paths as given; json may be "-" for stdout)."""

    video: Path | None = None
    json: str | None = None
    image_dir: Path | None = None
    coco: Path | None = None
    csv: Path | None = None
    video_options: object = None  # transpose_live.media.EncodeOptions (codec, crf, sound) for `video`

    def named(self) -> list[str]:
        return [str(p) for p in (self.video, self.json, self.image_dir, self.coco, self.csv) if p and str(p) != "-"]


def _run(kind: str, cfg: RunConfig, open_source, inputs: list, outputs: Outputs, max_frames=None, live=None) -> None:
    """Validates everything cheap first (model name, options, output paths against the inputs), then
    opens the source (`live`: every camera, a `cli.live_run.LiveRequest`), builds the chain (detector,
    pose model, tracker), opens the writers and runs (`live`: `pipeline.live.run_cameras`)."""
    from transpose_live.cli.live_run import open_cameras, print_reps, reconnect_policy, run_live, serving
    from transpose_live.engine import describe_model
    from transpose_live.paths import OutputGuard
    from transpose_live.pipeline import run_pipeline
    from transpose_live.pipeline.chain import attention_index, build_chain, check_config
    from transpose_live.runtime import apply_budget

    console = Console(stderr=True)
    check_config(cfg)
    spec, keypoints = describe_model(cfg.model, cfg.weights_value)  # a trained/exported file's own
    attention_index(cfg.attention, spec, keypoints)
    guard = OutputGuard(inputs + ([Path(cfg.exercise)] if cfg.exercise and Path(cfg.exercise).is_file() else []))
    every = live.outputs if live else [outputs]
    for each in every:
        _check_outputs(guard, each)
    apply_budget(cfg.threads)
    show = _window(kind, cfg, console)
    sources = open_cameras(live.cameras, reconnect_policy(cfg), console) if live else [open_source()]
    try:
        if outputs.image_dir:
            guard.folder(outputs.image_dir, "--out folder", names=[p.name for p in getattr(sources[0], "paths", [])])
        chain = build_chain(cfg)
        writers = [] if live else _open_writers(outputs, sources[0], chain.estimator.keypoints, cfg)
    except BaseException:
        for source in sources:
            source.close()
        raise
    if not show and not outputs.named() and outputs.json != "-" and kind != "image" and not cfg.serve \
            and not cfg.osc:
        console.print("warning: no window, --out, --json or --serve: results are not shown or saved" if kind == "webcam"
                      else "warning: no --out, --json or --csv: results are not saved", highlight=False)
    options = chain.pipeline_options(show=show, max_frames=max_frames)
    if live:
        result = run_live(live, sources, chain, lambda o, s: _open_writers(o, s, chain.estimator.keypoints, cfg), options,
                          console)
    else:
        overlay = chain.overlay()
        with serving(cfg.serve, [sources[0].name], console) as view:
            result = run_pipeline(sources[0], chain.estimator, chain.detector,
                                  tracker=chain.tracker(still_images=kind == "image"),
                                  writers=writers + ([view.writer(0)] if view else []), options=options, console=console,
                                  overlay=overlay)
        print_reps(console, overlay)
    _report(console, result, every)
    if live and all(c.lost for c in result.cameras):
        raise UserError("every camera was lost and not recovered (--give-up-after / --no-reconnect); outputs closed",
                        exit_code=1)


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


def _open_writers(outputs: Outputs, source, keypoints, cfg: RunConfig | None = None) -> list:
    """The writers for `outputs` (paths already checked) and the run's sinks (`cfg.osc`); any already
    opened are aborted on failure."""
    from transpose_live.pipeline.csv_writer import CsvWriter
    from transpose_live.pipeline.writers import (
        CallbackWriter,
        CocoResultsWriter,
        ImageDirWriter,
        JsonlWriter,
        VideoWriter,
    )

    makers = []
    if outputs.json == "-":
        makers.append(lambda: CallbackWriter(_print_json_line, on_event=_print_json_record))
    elif outputs.json:
        makers.append(lambda: JsonlWriter(outputs.json))
    if outputs.coco:
        makers.append(lambda: CocoResultsWriter(outputs.coco))
    if outputs.csv:
        makers.append(lambda: CsvWriter(outputs.csv, keypoints.names))
    if outputs.image_dir:
        makers.append(lambda: ImageDirWriter(outputs.image_dir))
    if outputs.video:
        makers.append(lambda: VideoWriter(outputs.video, source.fps, source.size, outputs.video_options, source.audio))
    if cfg is not None and cfg.osc:
        from transpose_live.pipeline.osc_sink import OscSink

        makers.append(lambda: OscSink(cfg.osc, keypoints))
    writers = []
    try:
        for make in makers:
            writers.append(make())
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return writers


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

        inputs = image_inputs(paths) if paths else _demo_images()
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


def _print_json_line(frame, poses) -> None:
    """`--json -`: one line to stdout; a closed pipe (`| head -1`) ends the run as the end of the input would."""
    from transpose_live.pipeline.writers import frame_record

    _print_json_record(frame_record(frame, poses))


def _print_json_record(record: dict) -> None:
    """One JSON line to stdout (a frame, or a live camera's event line)."""
    from transpose_live.pipeline import EndOfOutput

    try:
        print(json.dumps(record, separators=(",", ":")), flush=True)
    except BrokenPipeError:
        from transpose_live.cli import silence_stdout

        silence_stdout()  # Python's flush at exit then finds no broken pipe
        raise EndOfOutput from None
