"""`--precision int8` with a checkpoint: its INT8 OpenVINO model, made once and kept in the cache.

The run commands (`video`, `image`, `webcam`, `batch`, `eval`) run a checkpoint in INT8 through an INT8
export of it, made by the same code as `export --precision int8` (calibration crops from
`pipeline.calibration`, NNCF's quantisation in `backends.quantize`) and kept in
`$TRANSPOSE_LIVE_HOME/int8/` (default `~/.cache/transpose-live/int8/`):

- one model per checkpoint (its sha256) and calibration. Without `--int8-calib`, the first run
  calibrates it on its own input (frames spread over the first `SPREAD_OVER` frames of a video) and later
  runs with that checkpoint reuse it, whatever their input; `--int8-calib PATH` makes (once) and uses
  the model calibrated on PATH (its path, size and time name it);
- a cached model whose metadata names another checkpoint, or an older recipe, is made again;
- written under a temporary name and renamed into place (`paths.atomic_dir`): an interrupted or a
  concurrent run never leaves half a model.

Making one takes about half a minute for tp_r_a3 on 2 cores (NNCF's progress bars show it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

from transpose_live.config import RunConfig
from transpose_live.errors import UserError

RECIPE = 1  # the quantisation recipe (backends.quantize); a change makes cached models again
SPREAD_OVER = 600  # a run's own video: calibration frames from its first 600 frames (20 s at 30 fps)
FOLDER = "int8"


def cache_root() -> Path:
    from transpose_live.models.download import home_dir  # noqa: PLC0415

    return home_dir() / FOLDER


def _identity(path: str | Path) -> str:
    """A calibration source's identity: its absolute path, size and modification time (a folder: its files')."""
    p = Path(path).expanduser().resolve()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    stats = [(str(q), q.stat().st_size, q.stat().st_mtime_ns) for q in files if q.exists()]
    return json.dumps([str(p), stats])


def cached_models() -> list[Path]:
    """The INT8 models in the cache (folders holding a model.xml), by name."""
    root = cache_root()
    return sorted(p for p in root.iterdir() if (p / "model.xml").is_file()) if root.is_dir() else []


def int8_folder(model: str, weights_sha256: str, calibration: str | Path | None = None) -> Path:
    """Where the INT8 model of checkpoint `weights_sha256` (registry model `model`) lives; `calibration`:
    the explicit --int8-calib, None for the model the first input calibrated."""
    name = f"{model}-{weights_sha256[:16]}-r{RECIPE}"
    if calibration is not None:
        name += "-" + hashlib.sha256(_identity(calibration).encode()).hexdigest()[:8]
    return cache_root() / name


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def int8_model(cfg: RunConfig, calibrate_on: str | Path | None = None,
               say: Callable[[str], None] = _stderr) -> Path:
    """The INT8 OpenVINO folder of `cfg`'s checkpoint (made now when the cache lacks it). calibrate_on: the
    run's own input (a video, image or folder), used when `cfg.int8_calibration` is not given."""
    from transpose_live.backends.export import export_model, weights_file  # noqa: PLC0415
    from transpose_live.backends.metadata import OPENVINO_XML, file_sha256  # noqa: PLC0415
    from transpose_live.engine import describe_model  # noqa: PLC0415

    weights = cfg.weights_value
    if weights is None:
        from transpose_live.backends.precision import INT8_RANDOM  # noqa: PLC0415

        raise UserError(INT8_RANDOM)
    spec, _ = describe_model(cfg.model, weights)
    sha = file_sha256(weights_file(spec, weights))
    explicit = cfg.int8_calibration
    folder = int8_folder(spec.name, sha, explicit)
    made = _metadata(folder)
    if (folder / OPENVINO_XML).is_file() and made is not None and made.precision == "int8" \
            and made.weights_sha256 == sha:
        calibration = made.calibration or {}
        say(f"INT8 model of {weights}: {folder} (calibrated on {calibration.get('crops', '?')} crops from "
            f"{calibration.get('source', '?')})")
        return folder
    source = explicit if explicit is not None else calibrate_on
    if source is None:
        raise UserError(f"--precision int8 makes the INT8 model of {weights} once, calibrated on frames with "
                        "people: pass --int8-calib VIDEO|IMAGE|FOLDER (a camera is no file to calibrate on)")
    say(f"making the INT8 model of {weights} once, calibrated on the people in {source} (kept in {folder})")
    calibration = _calibration(cfg, spec, source, explicit is None, say)
    if folder.exists():  # an incomplete or outdated model of ours: made again
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return export_model(spec.name, weights=weights, fmt="openvino", out=folder, precision="int8",
                        calibration=calibration)


def _calibration(cfg: RunConfig, spec, source, own_input: bool, say):
    from transpose_live.backends.quantize import INT8_NO_GAIN, MIN_CROPS, check_installed, int8_pays  # noqa: PLC0415
    from transpose_live.pipeline.calibration import calibration_crops  # noqa: PLC0415

    check_installed()  # NNCF's install hint before any work
    if not int8_pays():
        say(INT8_NO_GAIN)
    what = "the input" if own_input else "--int8-calib"
    calibration = calibration_crops(source, tuple(spec.input_size), cfg.detector_weights,
                                    spread_over=SPREAD_OVER if own_input else None, what=what)
    if len(calibration.crops) < MIN_CROPS:
        raise UserError(f"INT8 calibration needs at least {MIN_CROPS} person crops, {what} {source} gave "
                        f"{len(calibration.crops)}; pass --int8-calib with more frames of people")
    return calibration


def _metadata(folder: Path):
    """A cached model's export metadata, None where it is missing or unreadable (then it is made again)."""
    from transpose_live.backends.metadata import read_metadata  # noqa: PLC0415

    try:
        return read_metadata(folder)
    except UserError:
        return None
