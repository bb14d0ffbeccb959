"""ms per crop of the pose models on each CPU runtime, one command:

    python benchmarks/backends_cpu.py            # writes benchmarks/results/backends-cpu.{json,md}
    python benchmarks/backends_cpu.py --models tp_r_a3 --reps 5 --compile

Per model and batch size: torch as built (BatchNorm kept, the reference layout), torch as the product
runs it (BatchNorm folded), folded + channels_last, optionally torch.compile, onnxruntime and OpenVINO
(fp32 precision hint), all fp32 on the same random crops with the same thread count; with
`--precisions bf16,int8` also OpenVINO bf16 (where the CPU has it), torch autocast bf16 (channels-last)
and NNCF INT8 on OpenVINO (calibrated on 16 random crops: the speed does not depend on the data). Runs are
interleaved (one call of each variant per repetition, median over repetitions) so that changing load
on a shared machine hits every variant alike. `auto` in `--backend` is chosen from these numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def variants(name: str, threads: int, with_compile: bool, precisions=()) -> dict:
    import torch

    from transpose_live.backends.choose import installed
    from transpose_live.backends.export import onnx_bytes
    from transpose_live.backends.runners import OnnxRuntimeRunner, OpenVINORunner
    from transpose_live.engine.fold_bn import fold_batchnorm
    from transpose_live.models import build, model_info

    spec = model_info(name)
    plain = build(name, weights=None)
    folded = fold_batchnorm(plain)
    cl = fold_batchnorm(plain).to(memory_format=torch.channels_last)

    def torch_call(module, channels_last=False):
        def call(x):
            with torch.inference_mode():
                return module(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
        return call

    out = {"torch": torch_call(plain), "torch-folded": torch_call(folded),
           "torch-folded-cl": torch_call(cl, channels_last=True)}
    if with_compile:
        out["torch-compile"] = torch_call(torch.compile(folded))
    data = onnx_bytes(plain, spec)
    out["onnxruntime"] = OnnxRuntimeRunner(data, threads)
    if installed("openvino"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "m.onnx").write_bytes(data)
            out["openvino"] = OpenVINORunner(Path(tmp) / "m.onnx", threads)
            out.update(reduced_variants(Path(tmp) / "m.onnx", spec, cl, threads, precisions))
    return out


def reduced_variants(onnx_file: Path, spec, channels_last_module, threads: int, precisions) -> dict:
    """OpenVINO bf16 / NNCF int8 and torch autocast bf16 runners, for the precisions asked for."""
    import openvino as ov
    import torch

    from transpose_live.backends.precision import cpu_precision
    from transpose_live.backends.runners import OpenVINORunner

    out = {}
    if "bf16" in precisions and cpu_precision().bf16_features:
        out["openvino-bf16"] = OpenVINORunner(onnx_file, threads, precision="bf16")

        def autocast_bf16(x, module=channels_last_module):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return module(x.contiguous(memory_format=torch.channels_last)).float()
        out["torch-cl-autocast-bf16"] = autocast_bf16
    if "int8" in precisions:
        from transpose_live.backends.quantize import quantize_openvino

        crops = np.random.default_rng(0).standard_normal((16, 3, *spec.input_size)).astype(np.float32)
        q = quantize_openvino(ov.convert_model(str(onnx_file)), crops)
        ov.save_model(q, str(onnx_file.with_name("q.xml")))
        out["openvino-int8"] = OpenVINORunner(onnx_file.with_name("q.xml"), threads, precision="int8",
                                              float_precision=cpu_precision().auto)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tp_r_a3,tp_h_s,hrnet_w32")
    parser.add_argument("--batches", default="1,3")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--precisions", default="", help="also time these reduced precisions: bf16,int8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import os

    import torch

    from transpose_live.bench.model_bench import environment
    from transpose_live.device import resolve_device
    from transpose_live.runtime import apply_budget

    budget = apply_budget(args.threads)
    records = []
    for name in args.models.split(","):
        runs = variants(name, budget.runtime, args.compile, tuple(filter(None, args.precisions.split(","))))
        for batch in (int(b) for b in args.batches.split(",")):
            x = torch.randn(batch, 3, 256, 192)
            for call in runs.values():
                call(x)  # warm-up (and compile)
            times = {k: [] for k in runs}
            loads = []
            for _ in range(args.reps):
                for key, call in runs.items():
                    t0 = time.perf_counter()
                    call(x)
                    times[key].append(time.perf_counter() - t0)
                loads.append(os.getloadavg()[0])
            for key, ts in times.items():
                ms = 1000 * float(np.median(ts))
                records.append(dict(model=name, batch=batch, backend=key, ms_per_batch=round(ms, 2),
                                    ms_per_crop=round(ms / batch, 2), load_avg=round(float(np.mean(loads)), 2)))
                print(f"{name:10s} b{batch} {key:16s} {ms / batch:8.1f} ms/crop", flush=True)
    env = environment(resolve_device("cpu"))
    env.update(budget=budget.as_dict(), reps=args.reps)
    if args.precisions:
        from transpose_live.backends.precision import cpu_precision

        env["cpu_precision"] = cpu_precision().describe()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "backends-cpu.json").write_text(json.dumps(dict(environment=env, records=records), indent=1) + "\n")
    (args.out / "backends-cpu.md").write_text(markdown(env, records))
    print(f"wrote {args.out}/backends-cpu.{{json,md}}")
    return 0


def markdown(env, records) -> str:
    keys = list(dict.fromkeys(r["backend"] for r in records))
    title = "fp32" if "cpu_precision" not in env else f"fp32 and reduced precision; {env['cpu_precision']}"
    out = [f"# Pose models per CPU runtime (ms per crop, {title})", "",
           f"{env['device_name']}, {env['budget']['runtime']} threads, median of {env['reps']} interleaved "
           f"repetitions, created {env['created']}. `load` is the 1-minute load average during the runs "
           f"(the machine's core count is {env['budget']['cores']}; above it, other processes were competing).", "",
           "| model | batch | " + " | ".join(keys) + " | load | per-crop cost at this batch vs batch 1 (fastest) |",
           "|---|---|" + "---|" * len(keys) + "---|---|"]
    groups = {}
    for r in records:
        groups.setdefault((r["model"], r["batch"]), {})[r["backend"]] = r
    for (model, batch), row in groups.items():
        best = min(v["ms_per_crop"] for v in row.values())
        one = groups.get((model, 1))
        rel = "" if one is None else f"{best / min(v['ms_per_crop'] for v in one.values()):.2f}x"
        cells = [f"**{row[k]['ms_per_crop']:.1f}**" if row[k]["ms_per_crop"] == best else f"{row[k]['ms_per_crop']:.1f}"
                 if k in row else "-" for k in keys]
        out.append(f"| {model} | {batch} | " + " | ".join(cells) +
                   f" | {next(iter(row.values()))['load_avg']:.1f} | {rel} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
