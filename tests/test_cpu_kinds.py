"""The path a CPU without native bf16 takes (an AVX2-only AMD EPYC, older Intel), forced on any CPU.

`ONEDNN_MAX_CPU_ISA=AVX2` caps torch's and OpenVINO's oneDNN kernels at AVX2, and transpose-live then
counts the CPU as one without bf16 (`backends.precision.cpu_precision`), as it finds a real AVX2-only
CPU: `--precision auto` runs fp32 on OpenVINO, the exported detector gets the f32 hint, and
`--precision bf16` is a one-line error. Without the cap OpenVINO still lists BF16 and its bf16 compile
fails under it. The person detector runs on torch here: ultralytics compiles its OpenVINO export
with OpenVINO's default precision, bf16 on a bf16 CPU, which the cap makes fail (on a real AVX2-only
CPU that default is f32); how numerics tests hold on every CPU kind: docs/architecture.md (Tests).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import DETECTOR_WEIGHTS, assert_one_line_error, require_shared

pytest.importorskip("openvino")

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}


def _run(*args, env=AVX2):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, **env))


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_capped_below_bf16_auto_is_fp32_everywhere():
    probe = ("from transpose_live.backends.precision import cpu_precision, detector_hint, resolve_precision as r\n"
             "c = cpu_precision()\n"
             "print(c.auto, bool(c.bf16_features), r('auto', 'cpu', 'openvino'), detector_hint('auto'), "
             "detector_hint('int8'))\n"
             "print(c.describe())")
    capped = _run("-c", probe)
    assert capped.returncode == 0, capped.stderr[-2000:]
    values, described = capped.stdout.splitlines()
    assert values.split() == ["fp32", "False", "fp32", "f32", "f32"], capped.stdout
    assert "no native bf16" in described and "ONEDNN_MAX_CPU_ISA=AVX2" in described
    for cap in ("AVX512_CORE_AMX", "all"):  # caps that keep bf16 change nothing
        same = _run("-c", probe, env={"ONEDNN_MAX_CPU_ISA": cap})
        plain = _run("-c", probe, env={})
        assert same.stdout.splitlines()[0] == plain.stdout.splitlines()[0], (cap, same.stdout, plain.stdout)


@pytest.mark.slow
def test_video_without_bf16_runs_fp32_on_openvino(filled_checkpoint, squat24, tmp_path):
    require_shared(DETECTOR_WEIGHTS)
    base = ["-m", "transpose_live", "video", squat24, "--weights", filled_checkpoint("tp_r_a3"), "--model", "tp_r_a3",
            "--device", "cpu", "--detector-weights", DETECTOR_WEIGHTS, "--detector-backend", "torch",
            "--max-frames", "2", "--no-progress"]
    done = _run(*base, "--json", tmp_path / "a.jsonl")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tp_r_a3 fp32 on openvino" in done.stderr, done.stderr[-2000:]
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2
    refused = _run(*base, "--precision", "bf16", "--json", tmp_path / "b.jsonl")
    assert_one_line_error(refused, "no native bf16")
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in refused.stderr and not (tmp_path / "b.jsonl").exists()


def test_speed_page_names_the_cpu_default_runtime_and_what_auto_gives_without_bf16():
    """docs/speed.md says what a run does: OpenVINO is the CPU's default runtime (issue #28: it said
    onnxruntime, with OpenVINO an extra), and `auto` without native bf16 is fp32 on OpenVINO."""
    from pathlib import Path

    from transpose_live.backends.precision import cpu_runtime

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "speed.md").read_text().split())
    assert cpu_runtime() == "openvino"  # a default dependency
    assert "on the CPU, `auto` runs the pose model on OpenVINO" in text
    assert "(OpenVINO and the exported detector are the CPU defaults)" in text
    assert "default backend is already onnxruntime" not in text and "`openvino` extra" not in text
    assert "on a CPU without it (AVX2-only" in text and "fp32 on OpenVINO" in text
