"""The composition root, above `pipeline` and `analytics` (which never import each other):
`build_chain(cfg)` makes the person detector, the pose estimator, the trackers and the `--exercise`
overlay of a `RunConfig`, with the device, precision and pose backend chosen once here (the detector
follows the pose backend).

    >>> chain = build_chain(RunConfig.for_command("video", device="cpu"))
    >>> run_pipeline(open_video("in.mp4"), chain.estimator, chain.detector, tracker=chain.tracker(),
    ...              overlay=chain.overlay(), options=chain.pipeline_options())

`check_config(cfg)` runs the cheap checks (option values against their registries) before any loading;
every command that takes a RunConfig calls it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from transpose_live.backends.choose import Runtime
from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.models.registry import DETECTOR_MODEL
from transpose_live.pipeline.runner import PipelineOptions


@dataclass
class Chain:
    """The built models of a run. `attention`: the `--attention` keypoint's index, or None."""

    cfg: RunConfig
    runtime: Runtime
    estimator: object  # engine.PoseEstimator
    detector: Callable | None
    attention: int | None = None

    def tracker(self, still_images: bool = False):
        """A new tracker for one input (None for still images without smoothing)."""
        from transpose_live.tracking import PoseTracker

        if still_images and self.cfg.smooth == "none":
            return None
        identity = {"reid_memory": self.cfg.reid_memory, "appearance": self.cfg.appearance}
        return PoseTracker(smooth=self.cfg.smooth, identity=identity)

    def overlay(self):
        """`--exercise`: the live rep counters and their drawing (`analytics.live.LiveExercise`), else None."""
        if self.cfg.exercise is None:
            return None
        from transpose_live.analytics.exercises import load_exercise
        from transpose_live.analytics.live import LiveExercise

        return LiveExercise(load_exercise(self.cfg.exercise), self.estimator.keypoints, self.cfg.kpt_thr,
                            hud=self.cfg.hud)

    def stitch_after_run(self, video: str | Path) -> Callable[[dict], None]:
        """An after-run hook for a video file's run: the track ids of the pose files written (`--json`,
        `--csv`) stitched offline, by appearance in `video` (`tracking.stitch`; docs/tracking.md)."""
        from transpose_live.pose_files import FORMATS
        from transpose_live.tracking.stitch import stitch_file

        def stitch(published: dict) -> None:
            for paths in published.values():
                for path in paths:
                    recording = _people(path) if Path(path).suffix.lower() in FORMATS else None
                    if recording is not None:
                        stitch_file(path, video=video, recording=recording)

        return stitch

    def pipeline_options(self, **values) -> PipelineOptions:
        """The pipeline settings of this run; `values` (show, max_frames, ...) on top."""
        return PipelineOptions.from_config(self.cfg, attention_keypoint=self.attention, **values)


def _people(path):
    """A pose file the run wrote, read (`PoseRecording`), or None when it holds no person (a run stopped
    early may have written none)."""
    from transpose_live.pose_files import read_poses

    try:
        recording = read_poses(path)
    except UserError:  # a CSV with its header only, an empty JSONL: nothing to stitch
        return None
    return recording if any(len(p) for p in recording.poses) else None


def check_config(cfg: RunConfig) -> None:
    """One-line errors for option values no registry knows, before anything is loaded."""
    from transpose_live.backends.choose import BACKENDS
    from transpose_live.pipeline.blur import check_mode
    from transpose_live.pipeline.detector_backend import DETECTOR_BACKENDS
    from transpose_live.pipeline.osc_sink import parse_target
    from transpose_live.tracking import SMOOTHERS

    if cfg.model is not None:
        from transpose_live.models.registry import model_info

        model_info(cfg.model)
    if cfg.smooth not in SMOOTHERS:
        raise UserError(f"unknown --smooth {cfg.smooth!r}; use {', '.join(SMOOTHERS)}")
    if (cfg.detector or "yolo").strip().lower() not in ("yolo", "auto", "none"):
        raise UserError(f"unknown --detector {cfg.detector!r}; use yolo or none")
    if (cfg.detector_backend or "auto").strip().lower() not in DETECTOR_BACKENDS:
        raise UserError(f"unknown --detector-backend {cfg.detector_backend!r}; use {', '.join(DETECTOR_BACKENDS)}")
    if cfg.backend is not None and cfg.backend.strip().lower() not in BACKENDS:
        raise UserError(f"unknown --backend {cfg.backend!r}; use {', '.join(BACKENDS)}")
    if cfg.exercise is not None:
        from transpose_live.analytics.exercises import load_exercise

        load_exercise(cfg.exercise)
    check_mode(cfg.blur)
    if cfg.osc:
        parse_target(cfg.osc)
    if cfg.device.strip().lower() == "cpu" and cfg.half:
        raise UserError("--half needs a CUDA device; use --no-half on the CPU")
    asked_precision(cfg)


def check_weights(cfg: RunConfig) -> None:
    """A pose checkpoint path (or --int8-calib path) that is not there, INT8 of random weights: one
    line before the detector is exported or loaded."""
    weights = cfg.weights_value
    if weights is not None and str(weights) != "official" and not Path(str(weights)).exists():
        raise UserError(f"checkpoint not found: {weights}")
    if cfg.int8_calibration is not None and not Path(cfg.int8_calibration).exists():
        raise UserError(f"--int8-calib path not found: {cfg.int8_calibration}")
    if weights is None and asked_precision(cfg) == "int8" and cfg.model != DETECTOR_MODEL:
        from transpose_live.backends.precision import INT8_RANDOM

        raise UserError(INT8_RANDOM)


def asked_precision(cfg: RunConfig) -> str:
    """--precision, with --half / --no-half as aliases of fp16 / fp32 (`device.parse_precision`)."""
    from transpose_live.device import parse_precision

    return parse_precision(cfg.precision, cfg.half)


def resolve_runtime(cfg: RunConfig, need_attention: bool = False) -> Runtime:
    """Device, pose backend and precision, resolved once (`backends.choose_runtime`); the estimator and the
    detector take the answer as given."""
    from transpose_live.backends import choose_runtime

    return choose_runtime(cfg.device, cfg.backend, asked_precision(cfg), cfg.weights_value, need_attention)


def build_estimator(cfg: RunConfig, runtime: Runtime | None = None, *, max_batch: int = 64,
                    need_attention: bool = False, calibrate_on=None):
    """The `PoseEstimator` of `cfg` (runtime: already resolved, else resolved here). A checkpoint in INT8
    runs as its INT8 model (`pipeline.int8_cache`: made once, calibrated on `cfg.int8_calibration`, else on
    `calibrate_on`, the run's input)."""
    from transpose_live.engine import PoseEstimator

    rt = runtime or resolve_runtime(cfg, need_attention)
    if cfg.model == DETECTOR_MODEL:  # the detector's own keypoints: no second model (pipeline/detector_poses.py)
        from transpose_live.pipeline.detector_poses import DetectorPoses, check_detector_run

        check_detector_run(cfg)
        return DetectorPoses(build_person_detector(cfg, rt))
    weights = cfg.weights_value
    if runs_int8_of_checkpoint(cfg, rt):
        from transpose_live.pipeline.int8_cache import int8_model

        weights = int8_model(cfg, calibrate_on)
    return PoseEstimator.from_runtime(rt, cfg.model, weights, flip_test=cfg.flip_test,
                                      decoder=cfg.decoder, max_batch=max_batch)


def runs_int8_of_checkpoint(cfg: RunConfig, runtime: Runtime) -> bool:
    """True when the run's TransPose model is a checkpoint resolved to INT8: its INT8 model (made once,
    `pipeline.int8_cache`) runs in its place."""
    from transpose_live.backends.choose import is_exported

    return cfg.model != DETECTOR_MODEL and runtime.precision == "int8" and not is_exported(cfg.weights_value)


def build_person_detector(cfg: RunConfig, runtime: Runtime):
    """`cfg.detector` (yolo or the whole frame) on the pose model's device, following its backend and its
    resolved precision; its keypoints are computed only for `--model detector`, which uses them."""
    from transpose_live.pipeline.detector import build_detector

    return build_detector(cfg.detector, cfg.detector_weights, device=runtime.device, half=runtime.half,
                          conf=cfg.det_conf, imgsz=cfg.detector_imgsz, backend=cfg.detector_backend,
                          pose_backend=runtime.backend, precision=runtime.precision,
                          keypoints=cfg.model == DETECTOR_MODEL)


def build_chain(cfg: RunConfig, *, detector: bool = True, need_attention: bool | None = None,
                calibrate_on=None) -> Chain:
    """Detector + estimator (+ trackers from `Chain.tracker`) of `cfg`. detector=False: no detector (boxes
    come from elsewhere). need_attention: default `cfg.attention is not None` (forces the torch backend).
    calibrate_on: the run's input file or folder, which calibrates a checkpoint's INT8 model the first time."""
    check_config(cfg)
    check_weights(cfg)
    want = cfg.attention is not None if need_attention is None else need_attention
    runtime = resolve_runtime(cfg, want)
    if cfg.model == DETECTOR_MODEL:  # one predict per frame gives the boxes and the keypoints
        estimator = build_estimator(cfg, runtime, need_attention=want)
        det = estimator.detector if detector else None
    else:
        det = build_person_detector(cfg, runtime) if detector else None
        estimator = build_estimator(cfg, runtime, need_attention=want, calibrate_on=calibrate_on)
    if all(getattr(part, "backend", "torch") != "torch" for part in (estimator, det) if part is not None):
        from transpose_live.runtime.threads import glue_only_torch

        glue_only_torch()  # no model on torch: one torch thread for the crops and decoding between them
    return Chain(cfg, runtime, estimator, det, attention_index(cfg.attention, estimator.spec, estimator.keypoints))


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


def live_3d_cameras(cfg: RunConfig, cameras: list[str]) -> dict[str, str] | None:
    """`webcam --calibration FILE --json3d OUT` (or `--serve`): the calibration read and each --camera mapped to one of its
    cameras, by name when every --camera name is in the file, else by order (as many cameras as the file);
    {camera: calibrated camera}, or None without --calibration. Cheap: runs before any model loads."""
    if cfg.calibration is None:
        if cfg.json3d is not None:
            raise UserError("--json3d needs --calibration FILE (the cameras' calibration) to triangulate")
        return None
    if str(cfg.json3d) == "-" or (cfg.json3d is None and not cfg.serve):
        raise UserError("--calibration: add --json3d OUT.jsonl (a file) or --serve HOST:PORT for the live 3D "
                        "(docs/3d.md)")
    from transpose_live.calib.formats import read_calibration

    names = read_calibration(cfg.calibration).names
    if len(cameras) < 2:
        raise UserError("--calibration: triangulation needs two cameras or more (--camera A --camera B ...)")
    if all(c in names for c in cameras):
        return {c: c for c in cameras}
    if len(cameras) != len(names):
        raise UserError(f"--calibration {cfg.calibration} has {len(names)} cameras ({', '.join(names)}) and "
                        f"--camera gives {len(cameras)}: give one --camera per calibrated camera, or name them "
                        f"as in the file (--camera {names[0]}=SOURCE)")
    return dict(zip(cameras, names))


class Live3D:
    """The cross-source sink of `webcam --calibration` (a `pipeline.stream.TickSink`): each camera's newest
    poses as estimated (`TickItem.raw`: a per-camera smoother would lag each view differently), at their
    capture time on the run's one clock (`Frame.captured_at`) and with their frame size, go to
    `triangulation.live.LiveViews` (which pairs the views of one instant and triangulates them)."""

    def __init__(self, views, cameras: dict[str, str]) -> None:
        self.views, self.cameras = views, cameras

    def write_tick(self, tick) -> None:
        for item in tick.items:
            h, w = item.frame.image.shape[:2]
            self.views.offer(self.cameras[item.source.name], item.frame.captured_at, item.raw, size=(w, h))
        self.views.settle()

    def summary(self) -> str:
        return self.views.triangulator.summary()

    def close(self) -> None:
        self.views.close()

    def abort(self) -> None:
        self.views.abort()


def build_live_3d(cfg: RunConfig, cameras: dict[str, str], fps: float, *, view=None, keypoints=None,
                  say=None) -> Live3D:
    """The `Live3D` sink of `cfg.calibration` -> `cfg.json3d` and, with `--serve`, the web view's 3D writer
    (`view.writer_3d`: the scene of `keypoints` and the cameras). `fps`: the cameras' frame rate (half a
    period pairs views); `say`: where the calibration's size notes go."""
    from transpose_live.calib.formats import read_calibration
    from transpose_live.triangulation.live import LiveTriangulator, LiveViews, scene

    calib = read_calibration(cfg.calibration)
    outputs = []
    if view is not None:
        outputs.append(view.writer_3d(scene(calib, list(cameras.values()), keypoints)))
    tri = LiveTriangulator(calib, cfg.json3d, fps=fps, kpt_thr=cfg.kpt_thr, outputs=tuple(outputs), say=say)
    return Live3D(LiveViews(tri, list(cameras.values())), cameras)

