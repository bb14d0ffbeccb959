"""Where INT8 pays on this CPU: OpenVINO's per-layer performance counters of a pose model's fp32 and
INT8 exports (issue #33.1), optionally with oneDNN capped to an older instruction set:

    python benchmarks/int8_layers.py                          # tp_r_a3, this CPU as it is
    python benchmarks/int8_layers.py --isa AVX2               # oneDNN capped to AVX2 (emulates an AVX2-only CPU)
    python benchmarks/int8_layers.py --isa AVX2,default --out benchmarks/results/int8-layers.md

For each ISA setting (a fresh process: ONEDNN_MAX_CPU_ISA is read once, when OpenVINO's CPU plugin starts)
it exports the model with random weights in fp32 and INT8 (NNCF, calibrated on crops of squat.mp4 made by
the project's calibration code), compiles both with PERF_COUNT on, runs `--iters` batch-2 inferences (one
crop and its flip, as `video` runs it) and sums the counters by kernel: the layer type, the kernel OpenVINO
ran (exec type, e.g. brgconv_avx512_amx_I8, jit_avx2_FP32) and its milliseconds. The summary: ms per call
fp32 vs INT8, and the share of INT8 time spent in int8 kernels vs float ones (what stays float after
quantisation, and what falls back). Pose weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "clips" / "squat.mp4"
DETECTOR = ROOT.parent / "shared" / "weights" / "yolo11n-pose.pt"


def profile(model: str, iters: int, folder: Path) -> dict:
    """This process's OpenVINO: per-kernel ms of the fp32 and INT8 exports of `model`."""
    import numpy as np
    import openvino as ov

    from transpose_live.backends.export import export_model
    from transpose_live.backends.metadata import OPENVINO_XML
    from transpose_live.models.registry import model_info
    from transpose_live.pipeline.calibration import calibration_crops
    from transpose_live.runtime import apply_budget

    threads = apply_budget(None).as_dict()["runtime"]
    calib = calibration_crops(CLIP, tuple(model_info(model).input_size), DETECTOR, max_frames=30)
    out = {}
    core = ov.Core()
    for precision in ("fp32", "int8"):
        path = export_model(model, None, "openvino", out=folder / precision, precision=precision,
                            calibration=calib if precision == "int8" else None)
        compiled = core.compile_model(str(path / OPENVINO_XML), "CPU", {
            "PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        x = np.ascontiguousarray(np.concatenate([calib.crops[:1], calib.crops[:1, :, :, ::-1]]))
        for _ in range(3):
            request.infer({0: x})
        kernels: dict = defaultdict(float)
        t0 = time.perf_counter()
        for _ in range(iters):
            request.infer({0: x})
            for info in request.profiling_info:
                if info.status == info.Status.EXECUTED:
                    kernels[f"{info.node_type} | {info.exec_type}"] += info.real_time.total_seconds() * 1000 / iters
        out[precision] = dict(ms_per_call=round((time.perf_counter() - t0) * 1000 / iters, 2),
                              kernels={k: round(v, 3) for k, v in sorted(kernels.items(), key=lambda kv: -kv[1])})
    return out


def summary(result: dict) -> dict:
    """ms per call and, of the INT8 model's kernel time, the share in int8 kernels."""
    kernels = result["int8"]["kernels"]
    total = sum(kernels.values()) or 1.0
    int8 = sum(v for k, v in kernels.items() if k.rsplit("_", 1)[-1] in ("I8", "U8"))
    return dict(fp32_ms=result["fp32"]["ms_per_call"], int8_ms=result["int8"]["ms_per_call"],
                speedup=round(result["fp32"]["ms_per_call"] / result["int8"]["ms_per_call"], 2),
                int8_kernel_share=round(int8 / total, 3))


def markdown(model: str, runs: dict, load: tuple) -> str:
    lines = [f"# INT8 per layer: {model}, OpenVINO performance counters", "",
             f"`python benchmarks/int8_layers.py {' '.join(sys.argv[1:])}`; load average before/after "
             f"{load[0]:.1f}/{load[1]:.1f} on 2 shared cores (ms are lower bounds; compare within a row).", "",
             "| oneDNN ISA cap | fp32 ms / call | INT8 ms / call | INT8 speed-up | INT8 time in int8 kernels |",
             "|---|---|---|---|---|"]
    for isa, result in runs.items():
        s = summary(result)
        lines.append(f"| {isa} | {s['fp32_ms']} | {s['int8_ms']} | {s['speedup']}x | {100 * s['int8_kernel_share']:.0f}% |")
    for isa, result in runs.items():
        for precision in ("fp32", "int8"):
            lines += ["", f"## {isa}, {precision}: the 12 costliest kernels (ms per call)", "",
                      "| layer type / kernel | ms |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in list(result[precision]["kernels"].items())[:12]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tp_r_a3")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--isa", default="default", help="comma-separated ONEDNN_MAX_CPU_ISA values; default: none")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (and .json beside it)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print("RESULT " + json.dumps(profile(args.model, args.iters, Path(tmp))))
        return 0
    runs, load0 = {}, os.getloadavg()[0]
    for isa in args.isa.split(","):
        env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
        if isa != "default":
            env["ONEDNN_MAX_CPU_ISA"] = isa
        proc = subprocess.run([sys.executable, __file__, "--child", "--model", args.model, "--iters", str(args.iters)],
                              env=env, capture_output=True, text=True, check=True)
        runs[isa] = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
        print(isa, summary(runs[isa]), flush=True)
    report = markdown(args.model, runs, (load0, os.getloadavg()[0]))
    if args.out:
        args.out.write_text(report)
        args.out.with_suffix(".json").write_text(json.dumps(runs, indent=1) + "\n")
    else:
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
