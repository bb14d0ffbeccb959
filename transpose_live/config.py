"""`RunConfig`: every run option declared once (name, type, default per command, help, effect on outputs).

The commands derive their options from it (`cli/options.run_options(command)` turns the fields a command
exposes into Typer options and hands the command one `cfg: RunConfig`), `chain.build_chain(cfg)`
builds detector + pose estimator + tracker from it, `batch` sends it to the workers and hashes its
output-changing fields (`batch/jobs.options_hash`), and `bench --pipeline` times the chain it describes.

    >>> cfg = RunConfig.for_command("video", kpt_thr=0.5)
    >>> cfg.detector_imgsz, cfg.hud, cfg.smooth
    (640, False, 'one-euro')
    >>> RunConfig.for_command("webcam").hud
    True

Adding an option is a one-place change: add a field below with `option(...)`:

    precision: str = option("fp32", "Numeric precision of the pose model: fp32, fp16 or int8.",
                            panel=MODEL, commands=RUN + ("bench", "eval"), per_command={"bench": "fp16"})

- the field's type is the Typer type (`Optional[...]` for options without a value by default; `bool`
  becomes a `--name/--no-name` flag); the flag is `--` + the name with `-` for `_` unless `flag=` says;
- `per_command` holds the defaults that differ from the first argument, per command name;
- `commands` lists the commands that show the option (the others get its default);
- `changes_output=False` for options that never change what is written (window, progress bar, threads):
  every other field is part of the batch options hash, so a rerun with another value redoes the inputs;
- `file=True` for paths whose content matters (the hash then holds the file's size and time);
- checks against the registries (model names, backends, smoothers) live with the registries and run in
  `chain.check_config`; the option then reaches the code that uses it as `cfg.<name>`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Optional

RUN = ("webcam", "video", "image", "batch")  # the commands that run the whole chain over frames
COMMANDS = RUN + ("bench", "eval", "explain")
# --help panels
MODEL, DETECTOR, TRACKING, SPEED, DISPLAY = "Model", "Detector", "Tracking and drawing", "Speed", "Display"
LIVE = "Live cameras"
IDENTITY = "Identity (docs/tracking.md)"
DEVICE_HELP = "auto, cpu or cuda[:index]."


KEYPOINT_THRESHOLD = 0.3  # keypoints scoring below this are not drawn, boxed, or used for angles/reps
OUTPUTS = "Outputs"


def option(default, help: str, *, panel: str, commands: tuple = RUN, per_command: dict | None = None,
           changes_output: bool = True, file: bool = False, parse=None, **cli) -> dataclasses.Field:
    """A config field declared once for the library and the command line (`RunConfig` here,
    `training.config.TrainConfig`): `default` for every command but those in `per_command`.
    `parse`: turns the command-line value into the field's value (e.g. "256x192" -> (256, 192));
    `cli`: flag=, short=, min=, max=, show_default=, negatable=False (a bool flag without --no-), and
    type= (the option's type when it differs from the field's, e.g. str for a parsed value).
    A command-line value None (an option left out) leaves the field's own default."""
    meta = dict(help=help, panel=panel, commands=tuple(commands), per_command=dict(per_command or {}),
                changes_output=changes_output, file=file, parse=parse, cli=cli)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """The options of one run. Build it with `RunConfig.for_command(name, **values)` so the command's
    own defaults apply; `RunConfig()` holds the common defaults (library use)."""

    # --- the pose model
    model: Optional[str] = option(
        None, "Pose model (`transpose-live models`); default {default_model}.",
        panel=MODEL, commands=RUN + ("eval", "explain"), short="-m", show_default=False)
    weights: str = option(
        "official", "Checkpoint path, exported model, 'official' (download once) or 'random' (untrained).",
        panel=MODEL, commands=COMMANDS, per_command={"bench": "random"}, short="-w", file=True)
    device: str = option("auto", DEVICE_HELP, panel=MODEL, commands=COMMANDS, short="-d")
    precision: str = option(
        "auto", "auto, fp32, bf16, fp16 or int8 (docs/precision.md).",
        panel=MODEL, commands=COMMANDS)
    half: Optional[bool] = option(None, "Alias of --precision fp16 / fp32.",
                                  panel=MODEL, commands=COMMANDS)
    int8_calibration: Optional[str] = option(
        None, "INT8 calibration (default: input).",
        panel=MODEL, commands=RUN + ("eval", "bench"), file=True, show_default=False, flag="--int8-calib")
    backend: Optional[str] = option(
        "auto", "auto (OpenVINO on a CPU), torch, onnxruntime, openvino.",
        panel=MODEL, commands=RUN + ("bench",), per_command={"eval": None})
    flip_test: bool = option(False, "Also run the mirrored crop (slower, a bit more accurate).",
                             panel=MODEL, commands=COMMANDS, per_command={"eval": True})
    decoder: str = option("dark", "Heatmap decoder: dark (TransPose) or classic (HRNet).",
                          panel=MODEL, commands=("eval",))
    # --- the person detector
    detector: str = option("yolo", "yolo, or none: the whole frame is one person.", panel=DETECTOR,
                           commands=RUN + ("bench", "explain"))
    detector_weights: Optional[str] = option(
        None, "YOLO weights (default: $TRANSPOSE_LIVE_DETECTOR, else yolo11n.pt).", panel=DETECTOR,
        commands=RUN + ("bench", "explain"), file=True)
    detector_imgsz: int = option(
        640, "Detector input size.", panel=DETECTOR,
        commands=RUN + ("bench", "explain"), min=32)
    detector_backend: str = option(
        "auto", "auto (as --backend), torch, onnxruntime, openvino.",
        panel=DETECTOR, commands=RUN + ("bench", "explain"))
    det_conf: float = option(0.25, "Detector confidence threshold.", panel=DETECTOR,
                             commands=RUN + ("bench", "explain"), min=0.0, max=1.0)
    det_every: int = option(1, "Detect every N frames; between, box people by their keypoints.",
                            panel=DETECTOR, commands=RUN + ("bench",), min=1)
    max_persons: Optional[int] = option(None, "Keep at most this many people (highest score first).",
                                        panel=DETECTOR, commands=RUN + ("explain",),
                                        per_command={"explain": 3}, min=1)
    # --- tracking and drawing
    smooth: str = option("one-euro", "Smoothing per tracked person: one-euro, kalman or none.",
                         panel=TRACKING, commands=RUN + ("bench",), per_command={"image": "none"})
    reid_memory: float = option(
        10.0, "Seconds a person who left keeps their id.",
        panel=IDENTITY, commands=("webcam", "video", "batch", "bench"), min=0.0)
    appearance: bool = option(True, "Tell people apart by colour too.",
                              panel=IDENTITY, commands=("webcam", "video", "batch", "bench"))
    kpt_thr: float = option(KEYPOINT_THRESHOLD, "Draw keypoints scoring above this.", panel=TRACKING,
                            commands=RUN + ("bench",), min=0.0, max=1.0)
    attention: Optional[str] = option(None, "Overlay attention for this keypoint (e.g. left_wrist).",
                                      panel=TRACKING)
    hud: bool = option(False, "Draw fps, latency and people.", panel=TRACKING,
                       commands=RUN + ("bench",), per_command={"webcam": True, "bench": True})
    exercise: Optional[str] = option(
        None, "Count reps: squat, push-up, lunge, jumping-jack, biceps-curl or a .yaml/.toml file.", panel=TRACKING, commands=("webcam", "video"), file=True)
    blur: str = option(
        "auto", "faces, people or none: hidden (auto: docs/privacy.md).", panel=TRACKING,
        show_default=False)
    # --- what never changes an output
    show: Optional[bool] = option(None, "Open a window, q or Esc quits (default: on for webcam with a display).",
                                  panel=DISPLAY, changes_output=False)
    progress: bool = option(True, "Progress bar.", panel=DISPLAY, commands=RUN + ("eval",),
                            changes_output=False)
    threads: Optional[int] = option(None, "CPU threads for the models (default: all usable cores).",
                                    panel=SPEED, commands=RUN + ("bench",), changes_output=False, min=1)
    serve: Optional[str] = option(None, "Live view in a browser at HOST:PORT (beyond loopback: token).",
                                  panel=DISPLAY, commands=("webcam", "video"), changes_output=False,
                                  show_default=False)
    osc: Optional[str] = option(None, "Send poses as OSC (UDP) to HOST:PORT.",
                                panel=OUTPUTS, commands=("webcam", "video", "image"), changes_output=False,
                                show_default=False)
    # --- live multi-camera 3D (chain.live_3d, triangulation.live; docs/3d.md "Live")
    calibration: Optional[str] = option(
        None, "Calibration of the cameras (TOML, OpenCV YAML/JSON, Qualisys .qca.txt): triangulate them live.",
        panel=OUTPUTS, commands=("webcam",), file=True, show_default=False)
    json3d: Optional[str] = option(None, "3D JSONL of the live triangulation (with --calibration).",
                                   panel=OUTPUTS, commands=("webcam",), show_default=False)
    # --- live cameras (pipeline.stream_source.ReconnectPolicy)
    reconnect: bool = option(True, "Reconnect lost streams (0.5 s back-off doubling to 10 s).", panel=LIVE,
                             commands=("webcam",), changes_output=False)
    give_up_after: Optional[float] = option(None, "Stop retrying a camera down this long (s; default never).",
                                            panel=LIVE, commands=("webcam",), changes_output=False, min=0.0)
    read_timeout: float = option(5.0, "Seconds without a frame that count as a lost stream.", panel=LIVE,
                                 commands=("webcam",), changes_output=False, min=0.1)
    rtsp_udp: bool = option(False, "RTSP over UDP (default TCP).", panel=LIVE, commands=("webcam",),
                            changes_output=False)

    @classmethod
    def for_command(cls, command: str, **values) -> "RunConfig":
        """The config with `command`'s defaults, then `values` (field names) on top."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; RunConfig knows {', '.join(COMMANDS)}")
        defaults = {f.name: f.metadata["per_command"][command] for f in fields(cls)
                    if command in f.metadata["per_command"]}
        return cls(**{**defaults, **values})

    def replace(self, **values) -> "RunConfig":
        return dataclasses.replace(self, **values)

    @property
    def weights_value(self) -> str | None:
        """`weights` as the model loaders take it: None for random (untrained) weights."""
        if self.weights is None or str(self.weights).strip().lower() in ("random", "none"):
            return None
        return self.weights

    def output_record(self) -> dict:
        """The output-changing options, by name (what `batch` hashes)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["changes_output"]}


def default_for(f: dataclasses.Field, command: str):
    """A field's default for `command` (None for a field without one)."""
    default = None if f.default is dataclasses.MISSING else f.default
    return f.metadata["per_command"].get(command, default)


def options_of(command: str, cls=RunConfig) -> list[dataclasses.Field]:
    """The fields of config class `cls` that `command` shows as options, in declaration order."""
    return [f for f in fields(cls) if "commands" in f.metadata and command in f.metadata["commands"]]


def config_from_options(cls, command: str, values: dict):
    """A `cls` from a command's option values (field name -> command-line value): each `parse` applied,
    None (not given) leaving a field's own default, then `cls.for_command(command, ...)` where the class has it (RunConfig), else `cls(...)`."""
    known = {f.name: f for f in fields(cls)}
    parsed = {}
    for name, value in values.items():
        f = known[name]
        if value is None and f.default is not None and f.default is not dataclasses.MISSING:
            continue  # an option left out whose command-line default is None: the config's own default
        parse = f.metadata.get("parse")
        parsed[name] = parse(value) if parse is not None and value is not None else value
    return cls.for_command(command, **parsed) if hasattr(cls, "for_command") else cls(**parsed)


def file_options() -> tuple[str, ...]:
    """Fields naming a file whose content matters (weights)."""
    return tuple(f.name for f in fields(RunConfig) if f.metadata["file"])
