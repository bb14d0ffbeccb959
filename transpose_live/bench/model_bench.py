"""Runs the models x batch x precision grid and returns one JSON-ready record per run.

Record schema (version 1; also in `transpose_live/bench/schema.md`), one object per
model x batch x precision x attention:

    model              str    registry name, e.g. "tp_r_a4"
    family             str    transpose_r | transpose_h | hrnet | simplebaseline
    batch              int    crops per forward
    precision          str    "fp32" | "fp16"
    attention          str|null  "fused" | "reference" for TransPose models, null for baselines
    device             str    "cpu" | "cuda:0" ...
    params             int    exact count of our model's parameters
    paper_params       int    published count
    gmacs              float  true multiply-accumulates per crop / 1e9 (FlopCounterMode / 2)
    gflops             float  per crop, counted in the published number's convention
    paper_gflops       float  published GFLOPs
    gflops_convention  str    which convention `gflops` follows
    paper_ap           object {val_det, val_gt, test_dev}, COCO AP (null where unpublished)
    paper_fps_2080ti   float|null  published frames/s at batch 1 on an RTX 2080 Ti
    warmup, iters      int    untimed and timed forwards
    ms_median, ms_p90, ms_mean, ms_min   float|null  ms per batch (null when `error` is set)
    crops_per_s        float|null  batch * 1000 / ms_median
    speedup_vs_reference float|null  crops_per_s / crops_per_s of the same model's reference-style
                       run (fp32, batch 1, materialised attention) measured in the same session;
                       null when no reference run was asked for or the model has no attention
    error              str|null    why the run produced no timing (e.g. "CUDA out of memory")
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from transpose_live.bench.flops import FlopReport, count_flops
from transpose_live.bench.timing import time_callable
from transpose_live.engine.estimator import inference_module
from transpose_live.errors import UserError
from transpose_live.models import MODELS, build, model_info
from transpose_live.models.registry import ATTENTION_IMPLS
from transpose_live.paths import write_atomic

SCHEMA_VERSION = 1
RECORD_FIELDS = (
    "model", "family", "batch", "precision", "attention", "device", "params", "paper_params", "gmacs",
    "gflops", "paper_gflops", "gflops_convention", "paper_ap", "paper_fps_2080ti", "warmup", "iters",
    "ms_median", "ms_p90", "ms_mean", "ms_min", "crops_per_s", "speedup_vs_reference", "error",
)
REFERENCE_BATCH = 1


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. `attention="reference"` adds a reference-style run per TransPose model."""

    models: tuple[str, ...]
    device: torch.device
    half: bool
    batches: tuple[int, ...] = (1, 8, 32)
    warmup: int = 3
    iters: int = 20
    attention: str = "fused"

    @property
    def precision(self) -> str:
        return "fp16" if self.half else "fp32"

    def runs_per_model(self, name: str) -> list[tuple[int, str, str | None]]:
        """(batch, precision, attention) of every run of model `name`, reference-style run first."""
        spec = model_info(name)
        runs = []
        if self.attention == "reference" and spec.is_transpose:
            runs.append((REFERENCE_BATCH, "fp32", "reference"))
        attn = "fused" if spec.is_transpose else None
        runs += [(b, self.precision, attn) for b in self.batches]
        return runs

    def total_forwards(self) -> int:
        return sum(len(self.runs_per_model(n)) for n in self.models) * (self.warmup + self.iters)


def parse_models(text: str) -> tuple[str, ...]:
    """'all' or a comma-separated list of registry names (validated, order kept, duplicates dropped)."""
    if text.strip().lower() == "all":
        return tuple(MODELS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError("--models is empty; give 'all' or names such as tp_r_a3,hrnet_w32")
    for n in names:
        model_info(n)  # raises UserError for an unknown name
    return tuple(dict.fromkeys(names))


def parse_batches(text: str) -> tuple[int, ...]:
    """'1,8,32' -> (1, 8, 32); every size a positive integer."""
    try:
        sizes = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise UserError(f"--batch must be comma-separated positive integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"--batch must be comma-separated positive integers, got {text!r}")
    return tuple(dict.fromkeys(sizes))


def _base_record(report: FlopReport, config: BenchConfig) -> dict:
    spec = model_info(report.name)
    return dict(
        model=report.name, family=spec.family, device=str(config.device), params=report.params,
        paper_params=spec.params, gmacs=round(report.gmacs, 4), gflops=round(report.gflops, 4),
        paper_gflops=spec.gflops, gflops_convention=report.convention,
        paper_ap=dataclasses.asdict(spec.paper_ap), paper_fps_2080ti=spec.fps_2080ti,
        warmup=config.warmup, iters=config.iters,
    )


def _measure(model, spec, device, dtype, batch, warmup, iters, advance, channels_last: bool = False) -> dict:
    x = torch.randn(batch, 3, *spec.input_size, device=device).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.inference_mode():
            model(x)

    try:
        timing = time_callable(forward, device, warmup, iters, on_iter=advance)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return dict(ms_median=None, ms_p90=None, ms_mean=None, ms_min=None, crops_per_s=None,
                    error="CUDA out of memory")
    return dict(
        ms_median=round(timing.median_ms, 4), ms_p90=round(timing.p90_ms, 4), ms_mean=round(timing.mean_ms, 4),
        ms_min=round(timing.min_ms, 4), crops_per_s=round(batch * 1000.0 / timing.median_ms, 3), error=None,
    )


def _prime(model, spec, device, channels_last: bool = False) -> None:
    """One untimed fp32 batch-1 forward, so that whichever run comes first is not charged for start-up."""
    x = torch.zeros(1, 3, *spec.input_size, device=device)
    with torch.inference_mode():
        model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)


@contextlib.contextmanager
def strict_fp32(on: bool = True):
    """Within the block, CUDA fp32 convolutions and matmuls run in full fp32 (TF32 off; cuDNN allows TF32
    convolutions by default), so that "fp32" runs are what the reference measured. Restored after."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    if on:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def bench_model(name: str, config: BenchConfig, advance=None, describe=None) -> list[dict]:
    """All runs of one model (the reference-style one first, in fp32, before casting to fp16).

    Our runs time the model as `PoseEstimator` runs it (BatchNorm folded, channels-last, fused attention);
    the reference-style run times it as the reference code does (BatchNorm kept, contiguous layout,
    softmax(QK^T) materialised)."""
    spec = model_info(name)
    report = count_flops(name)
    reference = build(name, weights=None, device=config.device)
    ours = inference_module(reference, config.device, torch.float32, channels_last=True)
    base = _base_record(report, config)
    _prime(ours, spec, config.device, channels_last=True)
    _prime(reference, spec, config.device)
    records = []
    for batch, precision, attention in config.runs_per_model(name):
        if describe:
            describe(f"{name} bs{batch} {precision}" + (f" {attention}" if attention else ""))
        dtype = torch.float16 if precision == "fp16" else torch.float32
        as_reference = attention == "reference"
        model = (reference if as_reference else ours).to(dtype)
        if attention is not None:
            model.set_attention_impl(attention)
        with strict_fp32(precision == "fp32"):  # fp32 means fp32: no TF32 convolutions or matmuls
            timing = _measure(model, spec, config.device, dtype, batch, config.warmup, config.iters, advance,
                              channels_last=not as_reference)
        records.append({**base, "batch": batch, "precision": precision, "attention": attention, **timing})
    _add_speedups(records)
    del model, ours, reference
    if config.device.type == "cuda":
        torch.cuda.empty_cache()
    return [{k: r.get(k) for k in RECORD_FIELDS} for r in records]


def _add_speedups(records: list[dict]) -> None:
    ref = next((r for r in records if r["attention"] == "reference" and r["crops_per_s"]), None)
    for r in records:
        r["speedup_vs_reference"] = (
            round(r["crops_per_s"] / ref["crops_per_s"], 3) if ref and r["crops_per_s"] else None
        )


def run_grid(config: BenchConfig, progress=None) -> list[dict]:
    """Every model's records, in `config.models` order. `progress` is an optional rich Progress."""
    task = None
    if progress is not None:
        task = progress.add_task("bench", total=config.total_forwards())

    def advance():
        if task is not None:
            progress.advance(task)

    def describe(text):
        if task is not None:
            progress.update(task, description=text)

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = config.device.type == "cuda" or previous
    try:
        records = []
        for name in config.models:
            records += bench_model(name, config, advance, describe)
    finally:
        torch.backends.cudnn.benchmark = previous
    return records


def device_name(device: torch.device) -> str:
    """Human-readable name of the device (GPU model, or the CPU's model name)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """Where the numbers were measured."""
    return dict(
        device=str(device), device_name=device_name(device), torch=torch.__version__,
        cuda=torch.version.cuda if device.type == "cuda" else None, threads=torch.get_num_threads(),
        python=platform.python_version(), platform=platform.platform(),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def write_json(path: str | Path, records: list[dict], env: dict) -> Path:
    """{"schema_version", "environment", "records"} to `path` (parent folders created)."""
    payload = dict(schema_version=SCHEMA_VERSION, environment=env, records=records)
    return write_atomic(path, json.dumps(payload, indent=1) + "\n", "--json file")


def validate_record(record: dict) -> None:
    """Raise ValueError unless `record` has exactly the schema's fields with the right types."""
    if set(record) != set(RECORD_FIELDS):
        raise ValueError(f"fields differ from the schema: {sorted(set(record) ^ set(RECORD_FIELDS))}")
    if record["precision"] not in ("fp32", "fp16") or record["attention"] not in (*ATTENTION_IMPLS, None):
        raise ValueError(f"bad precision/attention: {record['precision']!r}/{record['attention']!r}")
    ints = ("batch", "params", "paper_params", "warmup", "iters")
    if not all(isinstance(record[k], int) and not isinstance(record[k], bool) for k in ints):
        raise ValueError("batch, params, paper_params, warmup and iters must be integers")
    timed = ("ms_median", "ms_p90", "ms_mean", "ms_min", "crops_per_s")
    if record["error"] is None and not all(isinstance(record[k], (int, float)) for k in timed):
        raise ValueError("a record without error must have its timings")
    if set(record["paper_ap"]) != {"val_det", "val_gt", "test_dev"}:
        raise ValueError("paper_ap must have val_det, val_gt and test_dev")
