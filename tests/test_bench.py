"""`transpose-live bench`: params and GFLOPs against the paper, timing, records, CLI and results script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import CLIPS, require_shared
from transpose_live.bench import (
    RECORD_FIELDS,
    BenchConfig,
    bench_model,
    count_flops,
    markdown_table,
    parse_batches,
    parse_models,
    time_callable,
    validate_record,
)
from transpose_live.bench.timing import percentile
from transpose_live.cli import main
from transpose_live.errors import UserError
from transpose_live.models import UnknownModelError
from transpose_live.models import MODELS, create_model

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(MODELS))
def test_params_exact_and_gflops_within_3_percent_of_paper(name):
    report = count_flops(name)
    spec = MODELS[name]
    assert report.params == spec.params
    assert abs(report.gflops / spec.gflops - 1) < 0.03, (report.gflops, spec.gflops)
    assert report.gmacs > 0


def test_baseline_gflops_are_macs_in_binary_giga():
    """HRNet has no transposed conv: the paper's number is the true MAC count divided by 1024**3."""
    r = count_flops("hrnet_w32")
    assert r.gflops == pytest.approx(r.gmacs * 1e9 / 1024**3, rel=1e-9)


def test_counting_a_real_cpu_model_matches_meta_and_keeps_fused_attention():
    torch.manual_seed(0)
    model = create_model("tp_r_a3").eval()
    on_cpu, on_meta = count_flops("tp_r_a3", model), count_flops("tp_r_a3")
    assert on_cpu.gflops == pytest.approx(on_meta.gflops) and on_cpu.gmacs == pytest.approx(on_meta.gmacs)
    assert model.global_encoder.attention_impl == "fused"


def test_percentile_matches_numpy():
    values = [5.0, 1.0, 3.0, 9.0, 7.0, 2.0]
    for q in (0, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_time_callable_warms_up_then_times_each_iteration():
    calls = []
    timing = time_callable(lambda: calls.append(1), torch.device("cpu"), warmup=2, iters=5)
    assert len(calls) == 7 and len(timing.times_ms) == 5
    assert timing.min_ms <= timing.median_ms <= timing.p90_ms


def test_parse_models_and_batches():
    assert parse_models("all") == tuple(MODELS)
    assert parse_models("tp_r_a3, hrnet_w32,tp_r_a3") == ("tp_r_a3", "hrnet_w32")
    assert parse_batches("1,8,32") == (1, 8, 32)
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        parse_models("nope")
    with pytest.raises(UserError):
        parse_models("")
    for bad in ("0", "a,b", "1,-2"):
        with pytest.raises(UserError):
            parse_batches(bad)


def test_reference_run_comes_first_and_gives_speedups():
    config = BenchConfig(models=("tp_r_a3",), device=torch.device("cpu"), half=False, batches=(1, 2),
                         warmup=0, iters=1, attention="reference")
    records = bench_model("tp_r_a3", config)
    assert [(r["batch"], r["attention"]) for r in records] == [(1, "reference"), (1, "fused"), (2, "fused")]
    for r in records:
        validate_record(r)
        assert r["precision"] == "fp32" and r["speedup_vs_reference"] > 0
    assert records[0]["speedup_vs_reference"] == 1.0
    table = markdown_table(records)
    assert "tp_r_a3 fp32 ref-attn" in table and "vs ref" in table


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_cli_quick_bench_prints_params_and_writes_schema_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # a plain terminal still shows exact params
    out = tmp_path / "bench.json"
    argv = ["bench", "--device", "cpu", "--models", "tp_r_a3,hrnet_w32", "--batch", "1", "--quick", "--json", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "5,195,345" in text and "28,536,113" in text
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["environment"]["device"] == "cpu"
    records = data["records"]
    assert [(r["model"], r["batch"], r["precision"]) for r in records] == [("tp_r_a3", 1, "fp32"),
                                                                          ("hrnet_w32", 1, "fp32")]
    for r in records:
        validate_record(r)
        assert set(r) == set(RECORD_FIELDS)
        assert r["params"] == r["paper_params"]
        assert abs(r["gflops"] / r["paper_gflops"] - 1) < 0.03
        assert r["iters"] == 3 and r["ms_median"] > 0 and r["crops_per_s"] > 0
    assert records[0]["attention"] == "fused" and records[1]["attention"] is None


@pytest.mark.parametrize("argv, message", [
    (["bench", "--models", "nope", "--device", "cpu"], "error: unknown model 'nope'"),
    (["bench", "--models", "tp_r_a3", "--device", "cpu", "--half"], "error: --half needs a CUDA device"),
    (["bench", "--models", "tp_r_a3", "--device", "cpu", "--batch", "x"], "error: --batch must be"),
    (["bench", "--models", "tp_r_a3", "--attention", "flash"], "error: --attention must be"),
])
def test_cli_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_results_script_writes_json_markdown_and_png(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    spec = importlib.util.spec_from_file_location("run_benchmarks", REPO / "benchmarks" / "run_benchmarks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    argv = ["--device", "cpu", "--models", "tp_r_a3", "--batch", "1", "--warmup", "0", "--iters", "1",
            "--out", str(tmp_path)]
    assert script.main(argv) == 0
    records = json.loads((tmp_path / "cpu.json").read_text())["records"]
    assert [r["attention"] for r in records] == ["reference", "fused"]
    assert "| tp_r_a3 fp32 |" in (tmp_path / "cpu.md").read_text()
    assert (tmp_path / "cpu.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_bench(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--device", "cuda", "--models", "tp_r_a3", "--batch", "1,4", "--quick",
                 "--attention", "reference", "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["batch"], r["precision"], r["attention"]) for r in records] == [
        (1, "fp32", "reference"), (1, "fp16", "fused"), (4, "fp16", "fused")]
    assert all(r["error"] is None and r["speedup_vs_reference"] > 0 for r in records)


def test_pipeline_bench_missing_video_is_one_line(tmp_path, capsys):
    assert main(["bench", "--pipeline", str(tmp_path / "missing.mp4"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: video not found") and err.count("\n") == 1


@pytest.mark.slow
def test_pipeline_bench_times_every_stage(tmp_path, capsys, monkeypatch):
    clip = require_shared(CLIPS / "squat.mp4")
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "pipeline.json"
    argv = ["bench", "--pipeline", str(clip), "--models", "tp_r_a3", "--device", "cpu", "--detector", "none",
            "--max-frames", "4", "--json", str(out)]
    assert main(argv) == 0
    summary = json.loads(out.read_text())["pipeline"]
    from transpose_live.backends.precision import cpu_precision

    # --precision auto on the CPU: OpenVINO in this CPU's own precision (bf16 where it computes it natively)
    assert summary["frames"] == 4 and summary["fps"] > 0 and summary["precision"] == cpu_precision().auto
    for stage in ("read", "pose", "render", "encode"):
        assert summary["stages"][stage]["calls"] >= 4 and summary["stages"][stage]["ms_per_frame"] > 0
    assert "frames/s end-to-end" in capsys.readouterr().out
