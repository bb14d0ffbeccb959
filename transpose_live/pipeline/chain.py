"""`build_chain(cfg)`: the person detector, the pose estimator and the tracker of a `RunConfig`, with the
device, precision and pose backend chosen once here (the detector follows the pose backend).

    >>> chain = build_chain(RunConfig.for_command("video", device="cpu"))
    >>> run_pipeline(open_video("in.mp4"), chain.estimator, chain.detector, tracker=chain.tracker(),
    ...              options=chain.pipeline_options())

`check_config(cfg)` runs the cheap checks (option values against their registries) before any loading;
every command that takes a RunConfig calls it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.models.registry import DETECTOR_MODEL
from transpose_live.pipeline.runner import PipelineOptions


@dataclass(frozen=True)
class Runtime:
    """Where and how the models run: device, fp16 (torch only), the pose backend and the precision asked
    for (auto|fp32|bf16|fp16|int8, `backends.precision`; the estimator's `precision` says what ran)."""

    device: torch.device
    half: bool
    backend: str
    precision: str = "auto"


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

        return None if still_images and self.cfg.smooth == "none" else PoseTracker(smooth=self.cfg.smooth)

    def overlay(self):
        """`--exercise`: the live rep counters and their drawing (`analytics.live.LiveExercise`), else None."""
        if self.cfg.exercise is None:
            return None
        from transpose_live.analytics.exercises import load_exercise
        from transpose_live.analytics.live import LiveExercise

        return LiveExercise(load_exercise(self.cfg.exercise), self.estimator.keypoints, self.cfg.kpt_thr)

    def pipeline_options(self, **values) -> PipelineOptions:
        """The pipeline settings of this run; `values` (show, max_frames, ...) on top."""
        return PipelineOptions.from_config(self.cfg, attention_keypoint=self.attention, **values)


def check_config(cfg: RunConfig) -> None:
    """One-line errors for option values no registry knows, before anything is loaded."""
    from transpose_live.backends.choose import BACKENDS
    from transpose_live.pipeline.detector_backend import DETECTOR_BACKENDS
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
    if cfg.device.strip().lower() == "cpu" and cfg.half:
        raise UserError("--half needs a CUDA device; use --no-half on the CPU")
    asked_precision(cfg)


def asked_precision(cfg: RunConfig) -> str:
    """--precision, with --half / --no-half as aliases of fp16 / fp32."""
    from transpose_live.backends.precision import check_name

    name = check_name(cfg.precision)
    if cfg.half is None:
        return name
    alias = "fp16" if cfg.half else "fp32"
    if name not in ("auto", alias):
        raise UserError(f"--{'' if cfg.half else 'no-'}half means --precision {alias}; drop one of them")
    return alias


def resolve_runtime(cfg: RunConfig, need_attention: bool = False) -> Runtime:
    """Device, precision and pose backend, chosen once (fp16 only on torch)."""
    from transpose_live.backends import choose_backend, is_exported, read_metadata
    from transpose_live.backends.precision import resolve_precision
    from transpose_live.device import resolve_device

    device = resolve_device(cfg.device)
    backend = choose_backend(cfg.backend, cfg.weights_value, device, need_attention=need_attention)
    precision = asked_precision(cfg)
    exported = read_metadata(cfg.weights_value).precision if is_exported(cfg.weights_value) else None
    ran = resolve_precision(precision, device.type, backend, exported)  # one-line errors before any loading
    return Runtime(device, backend == "torch" and ran == "fp16", backend, precision)


def build_estimator(cfg: RunConfig, runtime: Runtime | None = None, *, max_batch: int = 64,
                    need_attention: bool = False):
    """The `PoseEstimator` of `cfg` (runtime: already resolved, else resolved here)."""
    from transpose_live.engine import PoseEstimator

    rt = runtime or resolve_runtime(cfg, need_attention)
    if cfg.model == DETECTOR_MODEL:  # the detector's own keypoints: no second model (pipeline/detector_poses.py)
        from transpose_live.pipeline.detector_poses import DetectorPoses, check_detector_run

        check_detector_run(cfg)
        return DetectorPoses(build_person_detector(cfg, rt))
    return PoseEstimator(model=cfg.model, weights=cfg.weights_value, device=rt.device,
                         precision="fp16" if rt.half else rt.precision, flip_test=cfg.flip_test,
                         decoder=cfg.decoder, max_batch=max_batch, backend=rt.backend)


def build_person_detector(cfg: RunConfig, runtime: Runtime):
    """`cfg.detector` (yolo or the whole frame) on the pose model's device, following its backend."""
    from transpose_live.pipeline.detector import build_detector

    return build_detector(cfg.detector, cfg.detector_weights, device=runtime.device, half=runtime.half,
                          conf=cfg.det_conf, imgsz=cfg.detector_imgsz, backend=cfg.detector_backend,
                          pose_backend=runtime.backend, precision=runtime.precision)


def build_chain(cfg: RunConfig, *, detector: bool = True, need_attention: bool | None = None) -> Chain:
    """Detector + estimator (+ trackers from `Chain.tracker`) of `cfg`. detector=False: no detector (boxes
    come from elsewhere). need_attention: default `cfg.attention is not None` (forces the torch backend)."""
    check_config(cfg)
    want = cfg.attention is not None if need_attention is None else need_attention
    runtime = resolve_runtime(cfg, want)
    if cfg.model == DETECTOR_MODEL:  # one predict per frame gives the boxes and the keypoints
        estimator = build_estimator(cfg, runtime, need_attention=want)
        det = estimator.detector if detector else None
    else:
        det = build_person_detector(cfg, runtime) if detector else None
        estimator = build_estimator(cfg, runtime, need_attention=want)
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
