"""The one ultralytics YOLO loader: the person detector (`detector.PersonDetector`), the label teacher
(`labelling.teacher.PoseTeacher`) and the bench peer (`bench.pipeline_bench.PeerModel`) all load and
call their model through `YoloModel`, under one thread-budget rule:

- every `predict` runs inside `runtime.keep_threads` (ultralytics' predictor calls `select_device`,
  which resets torch's and OpenCV's thread counts): afterwards torch and OpenCV hold the active
  budget again (or what they held before, when no budget is applied);
- an exported model (an `.onnx` file, a `*_openvino_model/` folder) runs its runtime with the budget's
  `runtime` threads: after the first predict (ultralytics opens the runtime there), the session /
  compiled model is re-opened with them (`detector_backend.use_runtime_threads`; ultralytics offers
  no public option for it). tests/test_threads.py fails when either stops holding.

Weights: a file or exported folder on this machine, or an ultralytics asset name (`yolo11n.pt`,
downloaded by ultralytics when online). Errors are one line naming the option (`what`, `hint`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError, first_line
from transpose_live.runtime.threads import keep_threads, runtime_threads


class YoloModel:
    """`YOLO(weights)` loaded offline; `predict(image, **options)` -> ultralytics' first Results."""

    def __init__(self, weights: str | Path, what: str = "detector weights", hint: str = "",
                 threads: int | None = None, precision: str | None = None) -> None:
        from transpose_live.pipeline.detector_export import exported_format
        from transpose_live.ultralytics_env import configure_ultralytics_offline

        configure_ultralytics_offline()
        self.weights, self.what, self.hint = str(weights), what, hint
        self.path = local_weights(self.weights, what, hint)
        self.exported = exported_format(self.path) is not None
        self.threads, self.precision = threads, precision  # an OpenVINO export runs in the pose model's precision
        self._runtime_threads_set = False
        from ultralytics import YOLO

        try:
            self.model = YOLO(str(self.path))
        except Exception as exc:  # noqa: BLE001 - ultralytics raises many kinds for a bad file
            raise UserError(f"cannot load {what} {weights}: {first_line(exc)}{_tail(hint)}") from None

    @property
    def name(self) -> str:
        return Path(self.weights).name

    @property
    def task(self) -> str | None:
        return getattr(self.model, "task", None)

    def predict(self, image: np.ndarray, half: bool = False, **options):
        """One frame through ultralytics' predictor (verbose off), the thread budget kept; `half`: fp16
        (CUDA), spelled as the installed ultralytics wants it."""
        with keep_threads():
            results = self.model.predict(image, verbose=False, **_half_option(half), **options)
        if self.exported and not self._runtime_threads_set:
            from transpose_live.pipeline.detector_backend import use_runtime_threads

            use_runtime_threads(self.model, self.path, self.threads or runtime_threads(), self.precision)
            self._runtime_threads_set = True
        return results[0]


def _half_option(half: bool) -> dict:
    """ultralytics >= 8.4 takes `quantize=16` and warns on every predictor set-up for `half`; older
    versions only know `half`. Nothing when fp32 (the default of both)."""
    if not half:
        return {}
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _tail(hint: str) -> str:
    return f"; {hint}" if hint else ""


def local_weights(weights: str, what: str = "detector weights", hint: str = "") -> Path:
    """The weights on this machine: a path (file or exported folder), or an ultralytics asset name
    (downloaded by ultralytics when online)."""
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()  # before ultralytics' first import: its logger reads YOLO_VERBOSE there
    from ultralytics.utils import SETTINGS

    path = Path(weights).expanduser()
    bare_name = path.name == weights and not path.exists()
    if not path.exists() and not bare_name:
        raise UserError(f"{what} not found: {weights}{_tail(hint)}")
    if bare_name and not (Path(SETTINGS["weights_dir"]) / weights).exists():
        local = _download_asset(weights)
        if local is None:
            raise UserError(f"{what} {weights!r} are not on this machine and could not be downloaded "
                            f"(offline?){_tail(hint)}")
        path = Path(local)
    elif bare_name:
        path = Path(SETTINGS["weights_dir"]) / weights
    return path


def _download_asset(name: str) -> str | None:
    """Lets ultralytics fetch one of its own asset names when the network is there; None if not."""
    from ultralytics.utils import is_online
    from ultralytics.utils.downloads import attempt_download_asset

    saved = os.environ.pop("YOLO_OFFLINE", None)  # downloads of weights are allowed, telemetry is not
    try:
        if not is_online():
            return None
        local = attempt_download_asset(name)
        return local if Path(local).exists() else None
    except Exception:  # noqa: BLE001
        return None
    finally:
        if saved is not None:
            os.environ["YOLO_OFFLINE"] = saved
