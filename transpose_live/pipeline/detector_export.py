"""The person detector exported through ultralytics' own `YOLO(pt).export(...)`, cached.

`exported_detector(weights, "onnx" | "openvino", imgsz)` returns the path of the exported model
(an `.onnx` file or a `*_openvino_model/` folder, both loadable by `YOLO(path)`), exporting it once
into `<cache>/<sha256[:16]>-<format>-<imgsz>[-dynamic]/` and reusing it afterwards. The cache is
`$TRANSPOSE_LIVE_CACHE/detectors/`, else `$TRANSPOSE_LIVE_HOME/detectors/` (the home the official
pose weights use), default `~/.cache/transpose-live/detectors/`.

- Nothing is written beside the user's `.pt` (ultralytics exports next to its source): the weights
  are copied into a private temporary folder inside the cache and exported there.
- Atomic: the temporary folder is renamed into place only when the export succeeded; a failed or
  interrupted export leaves no cache entry (a killed process leaves a `.<entry>.<random>.partial` folder, removed by a
  later export once it is an hour old).
- Offline: `configure_ultralytics_offline()` turns ultralytics' pip auto-install off; the packages
  an export needs are checked first and a missing one is one `UserError` line with the pip command.
- `dynamic=True` (what `PersonDetector` asks for): the export takes any input shape, so ultralytics
  letterboxes frames to a multiple of 32 as it does for torch (a 960x544 frame at 480 runs at
  480x288), not to a square `imgsz` x `imgsz` as for a fixed export. Measured on the 2-core CPU
  (benchmarks/results/detector-cpu.md): dynamic is faster on both runtimes and its onnxruntime
  boxes equal torch's.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import warnings
from pathlib import Path

from transpose_live.errors import UserError, first_line
from transpose_live.paths import commit_dir, file_sha256, temporary_dir

FORMATS = ("onnx", "openvino")
STALE_TMP_S = 3600
# import name -> pip name of the packages ultralytics' export of each format needs
_EXPORT_PACKAGES = {
    "onnx": (("onnx", "onnx"), ("onnxslim", "onnxslim")),
    "openvino": (("openvino", "openvino"),),
}
_EXPORT_HINT = {"onnx": 'pip install onnx onnxslim', "openvino": 'pip install "transpose-live[openvino]"'}


CACHE_ENV = "TRANSPOSE_LIVE_CACHE"


def detector_cache_dir() -> Path:
    """`$TRANSPOSE_LIVE_CACHE/detectors`, else `$TRANSPOSE_LIVE_HOME/detectors`, else
    `~/.cache/transpose-live/detectors`."""
    home = os.environ.get(CACHE_ENV) or os.environ.get("TRANSPOSE_LIVE_HOME") or Path.home() / ".cache" / "transpose-live"
    return Path(home).expanduser() / "detectors"


def exported_format(weights) -> str | None:
    """"onnx" for an .onnx file, "openvino" for an OpenVINO folder (`*_openvino_model/`, or any folder
    holding an .xml and ultralytics' metadata.yaml) or .xml file; None for anything else (.pt)."""
    if weights is None:
        return None
    path = Path(str(weights)).expanduser()
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix == ".xml":
        return "openvino"
    if path.name.endswith("_openvino_model") or (path.is_dir() and any(path.glob("*.xml"))):
        return "openvino"
    return None


def missing_export_packages(fmt: str) -> list[str]:
    """pip names of the packages the export of `fmt` needs that are not installed."""
    return [pip for module, pip in _EXPORT_PACKAGES[fmt] if not _importable(module)]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (None)
        return False


def cache_key(weights: Path, fmt: str, imgsz: int, dynamic: bool = False) -> str:
    return f"{file_sha256(weights)[:16]}-{fmt}-{int(imgsz)}{'-dynamic' if dynamic else ''}"


def find_exported(entry: Path) -> Path | None:
    """The exported model inside a finished cache entry (None if the entry is not there)."""
    if not entry.is_dir():
        return None
    found = sorted(entry.glob("*.onnx")) + sorted(p for p in entry.glob("*_openvino_model") if p.is_dir())
    return found[0] if found else None


def exported_detector(weights: str | Path, fmt: str, imgsz: int, cache: str | Path | None = None,
                      dynamic: bool = False) -> Path:
    """The `fmt` export of YOLO `.pt` weights at input size `imgsz`: from the cache, else exported now.
    dynamic: ultralytics' `dynamic=True` (any input shape: rectangular letterbox like torch)."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise UserError(f"cannot export the detector to {fmt!r}; use {' or '.join(FORMATS)}")
    weights = Path(str(weights)).expanduser()
    if not weights.is_file():
        raise UserError(f"detector weights not found: {weights}; pass --detector-weights PATH to YOLO .pt weights")
    root = Path(cache).expanduser() if cache is not None else detector_cache_dir()
    entry = root / cache_key(weights, fmt, imgsz, dynamic)
    found = find_exported(entry)
    if found is not None:
        return found
    missing = missing_export_packages(fmt)
    if missing:
        raise UserError(f"exporting the detector to {fmt} needs {', '.join(missing)}: {_EXPORT_HINT[fmt]} "
                        f"(or pass --detector-backend torch)")
    return _export_into(root, entry, weights, fmt, int(imgsz), bool(dynamic))


def _export_into(root: Path, entry: Path, weights: Path, fmt: str, imgsz: int, dynamic: bool) -> Path:
    from transpose_live.runtime.threads import keep_threads
    from transpose_live.ultralytics_env import configure_ultralytics_offline, stdout_to_stderr

    configure_ultralytics_offline()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the detector cache {root}: {first_line(exc)}; "
                        f"set {CACHE_ENV} to a writable folder") from None
    _remove_stale_temporaries(root)
    tmp = temporary_dir(entry)  # a plain folder's mode: it becomes the cache entry
    try:
        source = tmp / weights.name
        shutil.copyfile(weights, source)  # ultralytics writes its export beside this copy, never beside the input
        from ultralytics import YOLO  # noqa: PLC0415

        # the exporter resets torch's threads (select_device) and prints (stdout may be `--json -`)
        with keep_threads(), warnings.catch_warnings(), stdout_to_stderr():
            warnings.simplefilter("ignore")  # torch's tracer deprecation notes: not the user's concern
            out = YOLO(str(source)).export(format=fmt, imgsz=imgsz, device="cpu", dynamic=dynamic,
                                           verbose=False)
        produced = Path(str(out)).resolve()
        if not produced.exists() or produced.parent != tmp.resolve():
            raise RuntimeError(f"ultralytics reported {out}, not an export in {tmp}")
        source.unlink()
        if entry.exists() and find_exported(entry) is None:  # an entry emptied by hand: replaced
            shutil.rmtree(entry, ignore_errors=True)
        try:
            commit_dir(tmp, entry)
        except OSError:
            done = find_exported(entry)  # another process (a batch worker) finished the same export first
            if done is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return done
        return entry / produced.name
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (UserError, KeyboardInterrupt, SystemExit)):
            raise
        raise UserError(f"exporting detector weights {weights} to {fmt} failed: {first_line(exc)[:200]}; "
                        f"pass --detector-backend torch") from None


def _remove_stale_temporaries(root: Path) -> None:
    """Temporary folders of exports killed mid-way (older than an hour: not a running export)."""
    now = time.time()
    for tmp in root.glob(".*.partial"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            continue
