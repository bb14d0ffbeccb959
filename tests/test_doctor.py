"""`transpose-live doctor`: every check on this machine, as text and as `--json` (one object on stdout,
each check OK / WARN / MISSING / INFO with what to do); the CPU line and the `auto` line say what the
project's own resolution says here."""

from __future__ import annotations

import json

import torch

from transpose_live.backends.choose import choose_backend
from transpose_live.backends.precision import cpu_precision, cpuinfo_flags
from transpose_live.cli import main
from transpose_live.cli.doctor_cmd import INT8_ADVICE, cpu_kind
from transpose_live.device import resolve_device

NAMES = {"python", "torch", "OpenVINO", "onnxruntime", "ultralytics", "PyAV / FFmpeg", "CPU", "auto precision (CPU)",
         "auto device / backend / precision", "CUDA", "weights cache", "INT8 models", "detector weights", "cameras",
         "extra: ray", "extra: int8 (nncf)", "extra: serve", "extra: osc"}


def test_doctor_json_and_text(capsys, tmp_path):
    assert main(["doctor", "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert main(["doctor", "--json", str(tmp_path / "doctor.json")]) == 0
    assert json.loads((tmp_path / "doctor.json").read_text())["checks"] == json.loads(out)["checks"]
    capsys.readouterr()
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert NAMES <= set(checks)
    assert all(c["status"] in ("OK", "WARN", "MISSING", "INFO") for c in checks.values())
    assert all(c["advice"] for c in checks.values() if c["status"] in ("WARN", "MISSING"))  # each says what to do
    device = resolve_device("auto")
    assert checks["auto device / backend / precision"]["detail"].startswith(
        f"{device.type} / {choose_backend('auto', 'official', device)} / ")
    assert checks["auto precision (CPU)"]["detail"] == cpu_precision().describe()
    assert checks["auto precision (CPU)"]["advice"] == INT8_ADVICE[cpu_kind(cpuinfo_flags())]
    flags = cpuinfo_flags()
    if flags:
        assert f"AVX2 {'yes' if 'avx2' in flags else 'no'}" in checks["CPU"]["detail"]
        assert f"bf16 {'yes' if flags & {'avx512_bf16', 'amx_bf16'} else 'no'}" in checks["CPU"]["detail"]
    assert ("no CUDA device" in checks["CUDA"]["detail"]) != torch.cuda.is_available()
    assert "H.264 encoder libx264 present" in checks["PyAV / FFmpeg"]["detail"]
    assert main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in NAMES) and text.count("\n") >= len(NAMES)


def test_cpu_kinds():
    assert cpu_kind({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}) == "bf16"
    assert cpu_kind({"avx2", "avx_vnni"}) == "vnni"
    assert cpu_kind({"avx2", "fma"}) == "avx2"
