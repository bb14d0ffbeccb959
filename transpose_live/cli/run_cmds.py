"""`transpose-live webcam`, `video` and `image`: one pipeline (transpose_live.pipeline.run_pipeline)
behind three sources."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import DeviceOpt, HalfOpt, ModelOpt, WeightsOpt, weights_arg
from transpose_live.errors import UserError

SMOOTHERS = ("one-euro", "kalman", "none")


class RunOptions:
    """The options every run command shares (declared once in `_common`, added by `_with_run_options`)."""

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
    )


_COMMON_TYPES = dict(
    model=str, weights=str, device=str, half=Optional[bool], flip_test=bool, max_persons=Optional[int],
    det_every=int, kpt_thr=float, show=Optional[bool], smooth=str, attention=Optional[str], detector=str,
    detector_weights=Optional[str], det_conf=float, progress=bool,
    threads=Optional[int], backend=str, detector_imgsz=int,
)


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _attention_index(name: str | None, spec) -> int | None:
    if name is None:
        return None
    from transpose_live.keypoints import keypoint_index

    try:
        index = keypoint_index(name)
    except ValueError as exc:
        raise UserError(f"--attention: {exc}") from None
    if not spec.is_transpose:
        raise UserError(f"--attention needs a TransPose model (tp_*); {spec.name} has no attention")
    return index


def _run(kind: str, opts: RunOptions, open_source, *, video_out=None, json_out=None, image_dir=None,
         coco_out=None, on_result=None, max_frames=None) -> None:
    """Validates everything cheap first (model name, outputs), then opens the source, loads the
    detector and the pose model, and runs the pipeline."""
    from transpose_live.device import resolve_device, resolve_half
    from transpose_live.models import model_info
    from transpose_live.pipeline import build_detector, make_tracker, run_pipeline
    from transpose_live.pipeline.writers import check_writable_dir, check_writable_file

    console = Console(stderr=True)
    spec = model_info(opts.model)
    attention = _attention_index(opts.attention, spec)
    if opts.smooth not in SMOOTHERS:
        raise UserError(f"unknown --smooth {opts.smooth!r}; use {', '.join(SMOOTHERS)}")
    for path, what in ((video_out, "--out video"), (json_out, "--json file"), (coco_out, "--coco file")):
        if path:
            check_writable_file(path, what)
    if image_dir:
        check_writable_dir(image_dir, "--out folder")
    device = resolve_device(opts.device)
    half = resolve_half(opts.half, device)
    from transpose_live.backends import choose_backend
    from transpose_live.runtime import apply_budget

    backend = choose_backend(opts.backend, weights_arg(opts.weights), device, need_attention=attention is not None)
    half = half and backend == "torch"
    apply_budget(opts.threads)
    show = opts.show if opts.show is not None else (kind == "webcam" and _has_display())
    if show and not _has_display():
        console.print("warning: no display found; running headless (--show ignored)")
        show = False

    source = open_source()
    try:
        detector = build_detector(opts.detector, opts.detector_weights, device=device, half=half, conf=opts.det_conf,
                                  imgsz=opts.detector_imgsz)
        from transpose_live.engine import PoseEstimator

        estimator = PoseEstimator(model=opts.model, weights=weights_arg(opts.weights), device=device, half=half,
                                  flip_test=opts.flip_test, backend=backend)
        tracker = None
        if kind != "image" or opts.smooth != "none":
            tracker = make_tracker(opts.smooth)
            if tracker is None and opts.smooth != "none" and kind != "image":
                console.print("warning: tracking is not installed; running without smoothing")
    except BaseException:
        source.close()
        raise
    result = run_pipeline(
        source, estimator, detector, tracker=tracker, det_every=opts.det_every, kpt_thr=opts.kpt_thr,
        max_persons=opts.max_persons, attention_keypoint=attention, video_out=video_out, json_out=json_out,
        image_dir=image_dir, coco_out=coco_out, on_result=on_result, show=show, progress=opts.progress,
        max_frames=max_frames, console=console, hud=kind != "image",
    )
    console.print(result.summary(), soft_wrap=True, highlight=False)
    for path in result.skipped:
        console.print(f"warning: skipped unreadable image {path}", soft_wrap=True, highlight=False)
    written = [str(p) for p in (video_out, json_out, image_dir, coco_out) if p]
    if written:
        console.print(f"wrote {', '.join(written)}", soft_wrap=True, highlight=False)
    if result.interrupted is not None:
        import signal

        code = 143 if result.interrupted == signal.SIGTERM else 130
        name = "SIGTERM" if code == 143 else "Ctrl-C"
        raise UserError(f"interrupted by {name} after {result.frames} frames; outputs closed", exit_code=code)


def _with_run_options(kind: str):
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
    @_with_run_options("live")
    def webcam(
        opts: RunOptions,
        camera: str = typer.Option("0", "--camera", "-c", help="Camera index, /dev/videoN, stream URL (rtsp://...) or a video file played live."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Record the rendered stream to this mp4."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Write one JSON line per processed frame."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
    ) -> None:
        """Live pose estimation from a camera (newest frame only: latency never grows)."""
        from transpose_live.pipeline import open_camera

        _run("webcam", opts, lambda: open_camera(camera), video_out=out, json_out=json_out, max_frames=max_frames)

    @app.command()
    @_with_run_options("live")
    def video(
        opts: RunOptions,
        path: Path = typer.Argument(..., help="Input video file."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Rendered mp4 (same size and fps as the input)."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="One JSON line per frame: frame, timestamp, persons."),
        max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Process only the first N frames."),
    ) -> None:
        """Pose estimation on every frame of a video file."""
        from transpose_live.pipeline import open_video

        _run("video", opts, lambda: open_video(path), video_out=out, json_out=json_out, max_frames=max_frames)

    @app.command()
    @_with_run_options("image")
    def image(
        opts: RunOptions,
        path: Optional[Path] = typer.Argument(None, help="Image or folder of images (default: ultralytics' bus.jpg and zidane.jpg)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the rendered images."),
        coco: Optional[Path] = typer.Option(None, "--coco", help="Write COCO keypoint results JSON."),
        json_lines: bool = typer.Option(False, "--json", help="Print one JSON line per image to stdout."),
    ) -> None:
        """Pose estimation on images; with no path, on the demo pictures shipped with ultralytics."""
        from transpose_live.pipeline import ImageSource

        paths = path if path is not None else _demo_images()
        on_result = _print_json_line if json_lines else None
        _run("image", opts, lambda: ImageSource(paths), image_dir=out, coco_out=coco, on_result=on_result)


def _demo_images() -> list[Path]:
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics.utils import ASSETS

    found = [ASSETS / n for n in ("bus.jpg", "zidane.jpg") if (ASSETS / n).exists()]
    if not found:
        raise UserError(f"the ultralytics demo images are missing from {ASSETS}; give an image path")
    return found


def _print_json_line(frame, poses) -> None:
    import json

    print(json.dumps({"image": frame.name, "persons": poses.to_records()}, separators=(",", ":")), flush=True)
