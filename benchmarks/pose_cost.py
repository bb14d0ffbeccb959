"""Where the pose model's time goes per crop on this CPU (issue #33.4, crowds), one command:

    python benchmarks/pose_cost.py                     # tp_r_a3, bf16 (auto here), batches 1 and 3
    python benchmarks/pose_cost.py --precision fp32 --batches 1,2,3,4,6 --out /tmp/x.md

The model (random weights: speed does not depend on them) is exported to OpenVINO as `export` does it and
compiled per batch size with static shapes, as the pipeline runs it (`backends.runners.OpenVINORunner`,
`--threads` budget). For each batch: the median ms per call over `--iters` calls, ms per crop, and
OpenVINO's performance counters grouped by part of the network: the Transformer's attention (the fused
softmax(QK^T)V subgraphs), its linear layers, the CNN, the deconvolution head, the rest. It also times
the same network converted by OpenVINO's PyTorch frontend (attention as a ScaledDotProductAttention op)
and, for batches above 1, the crops one by one at batch 1, side by side with the ONNX path the export uses
(the variants called in turn, so the machine's drift hits each alike). Writes benchmarks/results/pose-cost-<cpu kind>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import transpose_live  # noqa: F401  (first: OpenMP's passive wait policy before torch loads)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from front import RESULTS, cpu_kind, cpu_name  # noqa: E402

HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


def part_of(node_name: str, node_type: str) -> str:
    """The part of TransPose a profiled OpenVINO node belongs to."""
    if "global_encoder" in node_name:
        if node_type == "Subgraph" and "self_attn" in node_name:
            return "attention (softmax(QK^T)V)"
        return "transformer linears and norms" if node_type in ("FullyConnected", "MVN") else "transformer other"
    if node_type == "ConvolutionBackpropData" or "deconv" in node_name.lower() or "final" in node_name.lower():
        return "deconvolution head"
    if node_type in ("Convolution", "MaxPool", "Relu"):
        return "CNN"
    return "other (reorders, transposes, adds)"


def interleaved(calls: dict, iters: int) -> dict:
    """name -> median ms of calls()[name](), the variants called in turn each round (the machine's speed
    drifts between minutes: only variants timed side by side compare)."""
    for call in calls.values():
        for _ in range(3):
            call()
    times: dict = defaultdict(list)
    for _ in range(iters):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: round(statistics.median(t) * 1000, 2) for name, t in times.items()}


def measure(model: str, precision: str, batches: list[int], iters: int, threads: int) -> dict:
    import numpy as np
    import openvino as ov
    import torch

    from transpose_live.backends.export import export_model
    from transpose_live.backends.metadata import OPENVINO_XML
    from transpose_live.backends.openvino_core import openvino_core
    from transpose_live.models import create_model, model_info

    height, width = model_info(model).input_size
    core = openvino_core()
    config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "INFERENCE_NUM_THREADS": threads,
              "PERFORMANCE_HINT": "LATENCY"}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = core.read_model(str(Path(export_model(model, None, "openvino", out=Path(tmp) / "m")) / OPENVINO_XML))
    net = create_model(model).eval()
    with torch.no_grad():
        frontend = ov.convert_model(net, example_input=torch.randn(1, 3, height, width), input=[(-1, 3, height, width)])

    def request(source, batch, perf=False):
        static = source.clone()
        static.reshape({0: [batch, 3, height, width]})
        return core.compile_model(static, "CPU", {**config, "PERF_COUNT": perf}).create_infer_request()

    single = request(onnx_path, 1)
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, 3, height, width), dtype=np.float32)
        onnx, sdpa = request(onnx_path, batch, perf=True), request(frontend, batch)
        calls = {"onnx_ms": lambda: onnx.infer({0: x}), "pytorch_frontend_ms": lambda: sdpa.infer({0: x})}
        if batch > 1:
            calls["one_by_one_ms"] = lambda: [single.infer({0: x[i:i + 1]}) for i in range(batch)]
        row = dict(batch=batch, **interleaved(calls, iters))
        parts: dict = defaultdict(float)
        for _ in range(5):
            onnx.infer({0: x})
            for info in onnx.profiling_info:
                if info.status == info.Status.EXECUTED:
                    parts[part_of(info.node_name, info.node_type)] += info.real_time.total_seconds() * 200
        row["parts_ms"] = {k: round(v, 2) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
        row["ms_per_crop"] = round(row["onnx_ms"] / batch, 2)
        rows.append(row)
        print(row, flush=True)
    return dict(model=model, precision=precision, threads=threads, rows=rows)


def markdown(payload: dict) -> str:
    lines = [f"# Where a crop's time goes: {payload['model']} {payload['precision']} on OpenVINO ({payload['cpu_kind']})", "",
             f"`{payload['command']}` on {payload['cpu']}, {payload['threads']} threads, static shapes, median of "
             f"{payload['iters']} calls, {payload['created']}; load average before/after {payload['load'][0]}/{payload['load'][1]}.", "",
             "| batch | ms / call | ms / crop | attention | transformer linears | CNN | deconv head | other | "
             "PyTorch-frontend export (SDPA op) ms / call | the crops one by one (batch 1) ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in payload["rows"]:
        parts = row["parts_ms"]
        total = sum(parts.values()) or 1.0

        def share(key, parts=parts, total=total):
            got = sum(v for k, v in parts.items() if k.startswith(key))
            return f"{got:.1f} ({100 * got / total:.0f}%)"
        lines.append(f"| {row['batch']} | {row['onnx_ms']} | {row['ms_per_crop']} | {share('attention')} | "
                     f"{share('transformer')} | {share('CNN')} | {share('deconvolution')} | {share('other')} | "
                     f"{row['pytorch_frontend_ms']} | {row.get('one_by_one_ms', '-')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tp_r_a3")
    parser.add_argument("--precision", default="bf16", choices=sorted(HINTS))
    parser.add_argument("--batches", default="1,3")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="markdown report (and .json beside it)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    got = measure(args.model, args.precision, [int(b) for b in args.batches.split(",")], args.iters, args.threads)
    payload = dict(got, cpu=cpu_name(), cpu_kind=cpu_kind(), iters=args.iters,
                   command="python benchmarks/pose_cost.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   load=[round(load, 2), round(os.getloadavg()[0], 2)])
    out = args.out or RESULTS / f"pose-cost-{cpu_kind()}.md"
    out.write_text(markdown(payload))
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
