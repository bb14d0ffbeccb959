"""`transpose-live doctor`: what this machine has and what to do about what it lacks, one line each
(OK / WARN / MISSING and the fix); `--json` for bug reports. Nothing is downloaded or opened: the
checks read versions, /proc/cpuinfo, the caches and the project's own `auto` resolution."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import typer

from transpose_live.cli.options import Command

CPU_FEATURES = {  # shown name -> /proc/cpuinfo flags (any)
    "AVX2": ("avx2",), "AVX-512": ("avx512f",), "VNNI": ("avx512_vnni", "avx_vnni"),
    "bf16": ("avx512_bf16", "amx_bf16"), "AMX": ("amx_tile", "amx_bf16", "amx_int8"),
}
# INT8 vs fp32 on OpenVINO, tp_r_a3 per crop, by CPU kind: benchmarks/results/int8-isa-cpu.md (oneDNN capped
# to each kind's instruction set on one CPU), docs/precision.md
INT8_ADVICE = {
    "bf16": "auto runs bf16 (about 1.8x fp32); INT8 (--precision int8) is about 2x fp32 but costs about 1-2 AP "
            "points: worth it only where bf16 is not fast enough (check it with export --verify)",
    "vnni": "no bf16 here, so auto runs fp32; with VNNI, INT8 is worth it: 1.5-1.8x fp32 per crop measured "
            "(--precision int8 makes the model once from your footage; check its accuracy with export --verify)",
    "avx2": "no bf16 and no VNNI: auto runs fp32, and stay there: INT8 ran slower than fp32 "
            "(0.7x per crop measured with oneDNN capped at AVX2); use a smaller model or --det-every instead",
}


@dataclass
class Check:
    name: str
    status: str  # OK, WARN, MISSING or INFO
    detail: str
    advice: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package(name: str, dist: str, fix: str, needed: bool = True) -> Check:
    found = _version(dist)
    if found:
        return Check(name, "OK", found)
    return Check(name, "MISSING" if needed else "INFO", "not installed", fix)


def _media() -> Check:
    found = _version("av")
    if not found:
        return Check("PyAV / FFmpeg", "MISSING", "PyAV not installed", "pip install av (video files and recordings)")
    import av

    ffmpeg = ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))
    try:
        av.codec.Codec("libx264", "w")
        encoder = "H.264 encoder libx264 present"
    except Exception:  # noqa: BLE001 - a PyAV build without libx264
        return Check("PyAV / FFmpeg", "WARN", f"PyAV {found}, libavcodec {ffmpeg}, no libx264",
                     "install the PyPI av wheel (bundles libx264), or record with --codec mp4v")
    return Check("PyAV / FFmpeg", "OK", f"PyAV {found}, libavcodec {ffmpeg}, {encoder}")


def cpu_kind(flags: set[str]) -> str:
    """bf16, vnni or avx2: which INT8 advice applies (see INT8_ADVICE)."""
    if flags & {"avx512_bf16", "amx_bf16"}:
        return "bf16"
    return "vnni" if flags & {"avx512_vnni", "avx_vnni"} else "avx2"


def _cpu() -> list[Check]:
    from transpose_live.backends.precision import cpu_precision, cpuinfo_flags
    from transpose_live.bench.model_bench import device_name

    import torch

    flags = cpuinfo_flags()
    have = {name: any(f in flags for f in names) for name, names in CPU_FEATURES.items()}
    shown = ", ".join(f"{n} {'yes' if ok else 'no'}" for n, ok in have.items())
    checks = [Check("CPU", "OK" if have["AVX2"] or not flags else "WARN", f"{device_name(torch.device('cpu'))}: "
                    f"{shown}, {os.cpu_count()} cores",
                    "" if have["AVX2"] or not flags else "no AVX2: every runtime is slow here; expect a few fps")]
    precision = cpu_precision()
    kind = cpu_kind(flags)
    checks.append(Check("auto precision (CPU)", "OK" if precision.auto != "fp32" else "INFO", precision.describe(),
                        INT8_ADVICE[kind]))
    return checks


def _runtime() -> Check:
    from transpose_live.backends.choose import choose_backend
    from transpose_live.backends.precision import resolve_precision
    from transpose_live.device import resolve_device

    device = resolve_device("auto")
    backend = choose_backend("auto", "official", device)
    precision = resolve_precision("auto", device.type, backend)
    fix = "" if backend != "torch" or device.type == "cuda" else "pip install openvino (the fastest CPU runtime)"
    return Check("auto device / backend / precision", "OK" if not fix else "WARN",
                 f"{device.type} / {backend} / {precision}", fix)


def _cuda() -> Check:
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda
        return Check("CUDA", "INFO", f"no CUDA device (torch built {'with CUDA ' + built if built else 'for the CPU'})",
                     "a GPU runs checkpoints on torch with --device cuda (docs/gpu.md)")
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Check("CUDA", "OK", f"{len(names)} device(s): {', '.join(names)} (CUDA {torch.version.cuda})")


def _weights() -> list[Check]:
    from transpose_live.models import download
    from transpose_live.models.registry import DEFAULT_MODEL, model_info

    cache = download.cache_dir()
    mirror = os.environ.get(download.MIRROR_ENV, "").strip()
    writable = os.access(cache if cache.exists() else cache.parent if cache.parent.exists() else Path.home(), os.W_OK)
    checks = [Check("weights cache", "OK" if writable else "WARN", f"{cache} ({'exists' if cache.exists() else 'not yet created'})"
                    + (f"; mirror {download.MIRROR_ENV}={mirror}" if mirror else f"; no mirror ({download.MIRROR_ENV} unset)"),
                    "" if writable else "set TRANSPOSE_LIVE_HOME to a writable folder")]
    from transpose_live.pipeline.int8_cache import cache_root, cached_models

    made = cached_models()
    checks.append(Check("INT8 models", "INFO", f"{len(made)} in {cache_root()}: {', '.join(p.name for p in made)}"
                        if made else f"none yet in {cache_root()} (--precision int8 makes one per checkpoint)"))
    spec = model_info(DEFAULT_MODEL)
    found = download.find_local(spec)
    checks.append(Check(f"pose weights ({spec.name})", "OK" if found else "INFO",
                        str(found) if found else "not downloaded yet",
                        "" if found else f"transpose-live weights download {spec.name} (or set {download.MIRROR_ENV})"))
    return checks


def _detector() -> Check:
    from transpose_live.pipeline.detector import DETECTOR_ENV, resolve_detector_weights
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    name = resolve_detector_weights(None)
    path = Path(name).expanduser()
    if not path.exists():
        configure_ultralytics_offline()
        from ultralytics.utils import SETTINGS

        path = Path(SETTINGS["weights_dir"]) / name
    if path.exists():
        return Check("detector weights", "OK", str(path))
    return Check("detector weights", "INFO", f"{name} not on this machine yet (ultralytics downloads it on first use)",
                 f"offline: pass --detector-weights PATH or set {DETECTOR_ENV}")


def _cameras() -> Check:
    found = sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []
    if found:
        return Check("cameras", "OK", ", ".join(found))
    where = "no /dev/video* devices" if sys.platform.startswith("linux") else "not listed on this system"
    return Check("cameras", "INFO", where, "webcam --camera also takes rtsp:// and http:// streams and video files")


def _extras() -> list[Check]:
    extras = (("extra: ray", ("ray",), "batch --ray", "ray"), ("extra: int8 (nncf)", ("nncf",), "--precision int8 of a checkpoint, export --precision int8", "int8"),
              ("extra: serve", ("starlette", "uvicorn", "websockets"), "--serve (web view, /ws)", "serve"),
              ("extra: osc", ("pythonosc",), "--osc", "osc"))
    out = []
    for name, modules, what, extra in extras:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        out.append(Check(name, "OK" if not missing else "INFO", f"{what}: " + ("installed" if not missing else
                         f"missing {', '.join(missing)}"), "" if not missing else f'pip install "transpose-live[{extra}]"'))
    return out


def run_checks() -> list[Check]:
    checks = [Check("python", "OK", sys.version.split()[0])]
    checks += [_package("torch", "torch", "pip install torch"),
               _package("OpenVINO", "openvino", "pip install openvino (the fastest CPU runtime, bf16 / INT8)"),
               _package("onnxruntime", "onnxruntime", "pip install onnxruntime"),
               _package("ultralytics", "ultralytics", "pip install ultralytics (the person detector)"), _media()]
    checks += _cpu() + [_runtime(), _cuda()] + _weights() + [_detector(), _cameras()] + _extras()
    return checks


def register(app: typer.Typer) -> None:
    @app.command(cls=Command)
    def doctor(json_out: Optional[str] = typer.Option(None, "--json", help="The checks as one JSON object to this "
                                                     "file, or - for stdout (for bug reports).")) -> None:
        """What this machine has (versions, CPU features, what `auto` picks, CUDA, weights, cameras,
        extras), each line OK or what to do. Nothing is downloaded."""
        if json_out and json_out != "-":
            from transpose_live.paths import check_writable_file

            check_writable_file(json_out, "--json file")
        checks = run_checks()
        if json_out:
            text = json.dumps({"checks": [asdict(c) for c in checks]}, indent=1)
            if json_out == "-":
                print(text)
                return
            from transpose_live.paths import commit, temporary_sibling

            path = check_writable_file(json_out, "--json file")
            tmp = temporary_sibling(path)
            tmp.write_text(text + "\n", encoding="utf-8")
            commit(tmp, path)
            print(f"wrote {path}", file=sys.stderr)
            return
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
        colour = {"OK": "green", "WARN": "yellow", "MISSING": "red", "INFO": "cyan"}
        for c in checks:
            line = f"[{colour[c.status]}]{c.status:<7}[/] {c.name}: {c.detail}"
            console.print(line + (f"\n        -> {c.advice}" if c.advice else ""), markup=True)
