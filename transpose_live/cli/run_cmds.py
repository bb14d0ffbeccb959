"""`transpose-live webcam`, `video` and `image`: one pipeline (transpose_live.pipeline.run_pipeline)
behind three sources."""

from __future__ import annotations

import functools
import inspect
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import DeviceOpt, HalfOpt, ModelOpt, WeightsOpt, weights_arg
from transpose_live.errors import UserError



JSON_HELP = "One JSON line per frame (frame, timestamp, persons) to this file, or - for stdout."
CSV_HELP = "One CSV row per person per frame: frame, timestamp, track_id, box, box_score, <keypoint>_x/_y/_score."
CODEC_HELP = "Video codec for --out: h264 (default, plays in every browser), hevc, vp9 or mp4v."
CAMERA_HELP = ("Camera index, /dev/videoN, stream URL (rtsp://, http:// MJPEG, HLS) or a video file played live; "
               "NAME=SOURCE names it. Repeat for several cameras (one model for all).")
SERVE_HELP = ("Serve a live view at HOST:PORT (page /, GET /poses, /events); beyond 127.0.0.1 it needs the "
              "token printed at start.")
CRF_HELP = "Quality for --out (lower is better and bigger): h264/hevc 0-51 (23/28), vp9 0-63 (32), mp4v quantiser 1-31 (4)."


class RunOptions:
    """The options every run command shares (declared once in `_common`, added by `with_run_options`)."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)


def _common(kind: str):
    """Typer parameter defaults shared by the three commands (smoothing off for still images)."""
    return dict(
        model=ModelOpt,
        weights=WeightsOpt,
        device=DeviceOpt,
        half=HalfOpt,
        flip_test=typer.Option(False, "--flip-test/--no-flip-test", help="Also run the mirrored crop (slower, a bit more accurate)."),
        max_persons=typer.Option(None, "--max-persons", min=1, help="Keep at most this many people (highest detector score)."),
        det_every=typer.Option(1, "--det-every", min=1, help="Run the detector every N frames; between, box people from their previous keypoints."),
        kpt_thr=typer.Option(0.3, "--kpt-thr", min=0.0, max=1.0, help="Draw keypoints scoring above this."),
        show=typer.Option(None, "--show/--no-show", help="Open a window (q or Esc quits). Default: on for webcam when a display exists."),
        smooth=typer.Option("none" if kind == "image" else "one-euro", "--smooth", help="Temporal smoothing per tracked person: one-euro, kalman or none."),
        attention=typer.Option(None, "--attention", help="Overlay each person's attention for this keypoint (e.g. left_wrist); TransPose models only."),
        detector=typer.Option("yolo", "--detector", help="yolo, or none: the whole frame is one person (pre-cropped clips)."),
        detector_weights=typer.Option(None, "--detector-weights", help="YOLO weights for the person detector (a pose model works too). Default: $TRANSPOSE_LIVE_DETECTOR, else yolo11n.pt."),
        det_conf=typer.Option(0.25, "--det-conf", min=0.0, max=1.0, help="Detector confidence threshold."),
        progress=typer.Option(True, "--progress/--no-progress", help="Progress bar for files."),
        # speed options (transpose_live.runtime, transpose_live.backends)
        threads=typer.Option(None, "--threads", min=1, help="CPU threads for the models (default: every core this process may use)."),
        backend=typer.Option("auto", "--backend", help="Pose model runtime: auto, torch, onnxruntime or openvino (auto: onnxruntime on the CPU when installed, else torch)."),
        detector_imgsz=typer.Option(640 if kind == "image" else 480, "--detector-imgsz", min=32, help="Detector input size in pixels (smaller is faster; far-away people may be missed)."),
        detector_backend=typer.Option("auto", "--detector-backend", help="Detector runtime: auto (follows --backend; exported weights run on their own runtime), torch, onnxruntime or openvino (exported once by ultralytics, cached)."),
    )


_COMMON_TYPES = dict(
    model=str, weights=str, device=str, half=Optional[bool], flip_test=bool, max_persons=Optional[int],
    det_every=int, kpt_thr=float, show=Optional[bool], smooth=str, attention=Optional[str], detector=str,
    detector_weights=Optional[str], det_conf=float, progress=bool,
    threads=Optional[int], backend=str, detector_imgsz=int, detector_backend=str,
)


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def attention_index(name: str | None, spec, keypoints=None) -> int | None:
    """`--attention NAME` -> the keypoint's index in the model's keypoint set (COCO-17 by default)."""
    if name is None:
        return None
    from transpose_live.engine import require_attention
    from transpose_live.keypoints import COCO17

    require_attention(spec, "--attention")
    try:
        return (keypoints or COCO17).index(name)
    except ValueError as exc:
        raise UserError(f"--attention: {exc}") from None


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


def _run(kind: str, opts: RunOptions, open_source, inputs: list, outputs: Outputs, max_frames=None, live=None,
         serve: str | None = None) -> None:
    """Validates everything cheap first (model name, options, output paths against the inputs), then
    opens the source (`live`: every camera, `cli.live_run.LiveRequest`), loads the detector and the pose
    model, opens the writers and runs the pipeline (`live`: `pipeline.live.run_cameras`)."""
    from transpose_live.backends import choose_backend
    from transpose_live.cli.live_run import open_cameras, run_live, serving
    from transpose_live.device import resolve_device, resolve_half
    from transpose_live.engine import PoseEstimator, describe_model
    from transpose_live.paths import OutputGuard
    from transpose_live.pipeline import build_detector, run_pipeline
    from transpose_live.pipeline.live import LiveOptions
    from transpose_live.runtime import apply_budget
    from transpose_live.tracking import SMOOTHERS, PoseTracker

    console = Console(stderr=True)
    spec, keypoints = describe_model(opts.model, weights_arg(opts.weights))  # a trained/exported file's own
    attention = attention_index(opts.attention, spec, keypoints)
    if opts.smooth not in SMOOTHERS:
        raise UserError(f"unknown --smooth {opts.smooth!r}; use {', '.join(SMOOTHERS)}")
    guard = OutputGuard(inputs)
    for each in (live.outputs if live else [outputs]):
        for path, what in ((each.video, "--out video"), (each.json, "--json file"), (each.coco, "--coco file"),
                           (each.csv, "--csv file")):
            if path and str(path) != "-":
                guard.file(path, what)
        if each.video:
            from transpose_live.media import check_video_output

            check_video_output(each.video, each.video_options)
    device = resolve_device(opts.device)
    half = resolve_half(opts.half, device)
    backend = choose_backend(opts.backend, weights_arg(opts.weights), device, need_attention=attention is not None)
    half = half and backend == "torch"
    apply_budget(opts.threads)
    show = opts.show if opts.show is not None else (kind == "webcam" and _has_display())
    if show and not _has_display():
        console.print("warning: no display found; running headless (--show ignored)")
        show = False

    sources = open_cameras(live.cameras, live.policy, console) if live else [open_source()]
    source = sources[0]
    if kind == "webcam" and not show and not outputs.named() and outputs.json != "-" and not (live and live.serve):
        console.print("warning: no window, --out, --json or --serve: results are not shown or saved", highlight=False)
    try:
        if outputs.image_dir:
            guard.folder(outputs.image_dir, "--out folder", names=[p.name for p in getattr(source, "paths", [])])
        detector = build_detector(opts.detector, opts.detector_weights, device=device, half=half, conf=opts.det_conf,
                                  imgsz=opts.detector_imgsz, backend=opts.detector_backend, pose_backend=backend)
        estimator = PoseEstimator(model=opts.model, weights=weights_arg(opts.weights), device=device, half=half,
                                  flip_test=opts.flip_test, backend=backend)
        tracker = PoseTracker(smooth=opts.smooth) if kind != "image" or opts.smooth != "none" else None
        writers = [] if live else _open_writers(outputs, source, estimator.keypoints)
    except BaseException:
        for each in sources:
            each.close()
        raise
    if live:
        options = LiveOptions(det_every=opts.det_every, kpt_thr=opts.kpt_thr, max_persons=opts.max_persons,
                              attention_keypoint=attention, show=show, max_frames=max_frames)
        chain = (estimator, detector, lambda: PoseTracker(smooth=opts.smooth),
                 lambda o, s: _open_writers(o, s, estimator.keypoints), options)
        result = run_live(live, sources, chain, console)
    else:
        with serving(serve, [source.name], console) as view:
            result = run_pipeline(
                source, estimator, detector, tracker=tracker, writers=writers + ([view.writer(0)] if view else []),
                det_every=opts.det_every, kpt_thr=opts.kpt_thr, max_persons=opts.max_persons,
                attention_keypoint=attention, show=show, progress=opts.progress, max_frames=max_frames,
                console=console, hud=kind != "image",
            )
    console.print(result.summary(), soft_wrap=True, highlight=False)
    for path in result.skipped:
        console.print(f"warning: skipped unreadable image {path}", soft_wrap=True, highlight=False)
    for text in result.warnings:
        console.print(f"warning: {text}", soft_wrap=True, highlight=False, markup=False)
    named = [n for each in (live.outputs if live else [outputs]) for n in each.named()]
    if named:
        console.print(f"wrote {', '.join(named)}", soft_wrap=True, highlight=False)
    if result.interrupted is not None:
        code = 143 if result.interrupted == signal.SIGTERM else 130
        name = "SIGTERM" if code == 143 else "Ctrl-C"
        raise UserError(f"interrupted by {name} after {result.frames} frames; outputs closed", exit_code=code)


def _open_writers(outputs: Outputs, source, keypoints) -> list:
    """The writers for `outputs` (paths already checked); any already opened are aborted on failure."""
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
    writers = []
    try:
        for make in makers:
            writers.append(make())
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return writers


def with_run_options(kind: str):
    """Decorator: appends the shared run options to a command's own parameters and hands them to
    the command as one `opts: RunOptions` argument (typer reads the combined `__signature__`)."""
    defaults = _common(kind)

    def decorate(command):
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "opts"]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                     annotation=_COMMON_TYPES[name]) for name, default in defaults.items()]

        @functools.wraps(command)
        def wrapper(**kwargs):
            opts = RunOptions(**{name: kwargs.pop(name) for name in defaults})
            return command(opts=opts, **kwargs)

        wrapper.__signature__ = own.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def register(app: typer.Typer) -> None:
    """Adds `webcam`, `video` and `image` to the app."""

    @app.command()
    @with_run_options("live")
    def webcam(
        opts: RunOptions,
        camera: list[str] = typer.Option(["0"], "--camera", "-c", help=CAMERA_HELP),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Record the rendered stream (H.264 mp4; plays at real speed; {camera} per camera)."),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP + " Live: also loss/reconnection event lines; {camera} per camera."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames (per camera)."),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP),
        codec: str = typer.Option("h264", "--codec", help=CODEC_HELP),
        crf: Optional[int] = typer.Option(None, "--crf", help=CRF_HELP),
        no_audio: bool = typer.Option(False, "--no-audio", help="Recordings of a camera are always silent."),
        reconnect: bool = typer.Option(True, "--reconnect/--no-reconnect", help="Reconnect a lost stream (back-off 0.5 s doubling to 10 s), never giving up unless --give-up-after."),
        give_up_after: Optional[float] = typer.Option(None, "--give-up-after", min=0.0, help="Stop retrying a camera that stays down this many seconds."),
        read_timeout: float = typer.Option(5.0, "--read-timeout", min=0.1, help="Seconds without a frame that count as a lost stream."),
        rtsp_udp: bool = typer.Option(False, "--rtsp-udp", help="RTSP over UDP (default TCP: no smeared frames on a lossy network)."),
        serve: Optional[str] = typer.Option(None, "--serve", help=SERVE_HELP),
    ) -> None:
        """Live pose estimation from one or more cameras (newest frame only: latency never grows;
        lost streams reconnect)."""
        from transpose_live.cli.live_run import LiveRequest, camera_names, per_camera
        from transpose_live.media import EncodeOptions
        from transpose_live.pipeline.stream_source import ReconnectPolicy

        named = camera_names(camera)
        outputs = Outputs(video=out, json=json_out, csv=csv_out, video_options=EncodeOptions(codec, crf, audio=not no_audio))
        policy = ReconnectPolicy(reconnect=reconnect, give_up_after=give_up_after, read_timeout=read_timeout,
                                 rtsp_udp=rtsp_udp)
        live = LiveRequest(named, per_camera(outputs, [n for n, _ in named]), policy, serve)
        inputs = [Path(spec) for _, spec in named if Path(spec).is_file()]
        _run("webcam", opts, None, inputs, outputs, max_frames=max_frames, live=live)

    @app.command()
    @with_run_options("live")
    def video(
        opts: RunOptions,
        path: Path = typer.Argument(..., help="Input video file."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Rendered video (H.264 mp4 with the input's sound, same size and timing)."),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Process only the first N frames."),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP),
        codec: str = typer.Option("h264", "--codec", help=CODEC_HELP),
        crf: Optional[int] = typer.Option(None, "--crf", help=CRF_HELP),
        no_audio: bool = typer.Option(False, "--no-audio", help="Drop the input's sound from --out."),
        serve: Optional[str] = typer.Option(None, "--serve", help=SERVE_HELP),
    ) -> None:
        """Pose estimation on every frame of a video file."""
        from transpose_live.media import EncodeOptions
        from transpose_live.pipeline import open_video

        outputs = Outputs(video=out, json=json_out, csv=csv_out, video_options=EncodeOptions(codec, crf, audio=not no_audio))
        _run("video", opts, lambda: open_video(path), [path], outputs, max_frames=max_frames, serve=serve)

    @app.command()
    @with_run_options("image")
    def image(
        opts: RunOptions,
        path: Optional[Path] = typer.Argument(None, help="Image or folder of images (default: ultralytics' bus.jpg and zidane.jpg)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the rendered images."),
        coco: Optional[Path] = typer.Option(None, "--coco", help="Write COCO keypoint results JSON."),
        json_out: Optional[str] = typer.Option(None, "--json", help=JSON_HELP),
        csv_out: Optional[Path] = typer.Option(None, "--csv", help=CSV_HELP),
    ) -> None:
        """Pose estimation on images; with no path, on the demo pictures shipped with ultralytics."""
        from transpose_live.pipeline import ImageSource

        paths = path if path is not None else _demo_images()
        inputs = paths if isinstance(paths, list) else [paths]
        _run("image", opts, lambda: ImageSource(paths), inputs, Outputs(json=json_out, image_dir=out, coco=coco,
                                                                     csv=csv_out))


def _demo_images() -> list[Path]:
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics.utils import ASSETS

    found = [ASSETS / n for n in ("bus.jpg", "zidane.jpg") if (ASSETS / n).exists()]
    if not found:
        raise UserError(f"the ultralytics demo images are missing from {ASSETS}; give an image path")
    return found


def _print_json_line(frame, poses) -> None:
    from transpose_live.pipeline.writers import frame_record

    _print_json_record(frame_record(frame, poses))


def _print_json_record(record: dict) -> None:
    print(json.dumps(record, separators=(",", ":")), flush=True)
