"""Is an INT8 export worth it on CPUs without bf16? OpenVINO INT8 vs fp32 per crop (tp_r_a3, batch 1),
with oneDNN's instruction set capped to what other CPU kinds have (`ONEDNN_MAX_CPU_ISA`, honoured by
OpenVINO's CPU plugin): ALL (this CPU), AVX512_CORE_VNNI (AVX-512 with VNNI, no bf16: e.g. Cascade Lake,
Ice Lake), AVX2_VNNI (AVX2 with VNNI: Alder Lake), AVX2 (no VNNI: Zen 2/3, Haswell-Skylake).

    python benchmarks/int8_isa.py            # writes benchmarks/results/int8-isa-cpu.{json,md}

The INT8 model is NNCF-quantised once (random crops: speed does not depend on the data) and both IRs are
timed in a child process per cap, interleaved call by call (median), so load changes hit both alike.
The ratio is what transpose-live doctor quotes per CPU kind; absolute ms depend on the load (recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CAPS = ("ALL", "AVX512_CORE_VNNI", "AVX2_VNNI", "AVX2")


def child(folder: Path, reps: int, threads: int) -> dict:
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    models = {name: core.compile_model(core.read_model(str(folder / f"{name}.xml")), "CPU", config)
              for name in ("fp32", "int8")}
    requests = {name: m.create_infer_request() for name, m in models.items()}
    x = np.random.default_rng(0).standard_normal((1, 3, 256, 192)).astype(np.float32)
    times: dict[str, list[float]] = {name: [] for name in models}
    for name in models:  # warm-up
        requests[name].infer({0: x})
    for _ in range(reps):
        for name, request in requests.items():
            t0 = time.perf_counter()
            request.infer({0: x})
            times[name].append(1000 * (time.perf_counter() - t0))
    return {name: float(np.median(v)) for name, v in times.items()}


def prepare(folder: Path) -> None:
    import openvino as ov

    from transpose_live.backends.export import onnx_bytes
    from transpose_live.backends.quantize import quantize_openvino
    from transpose_live.models import build, model_info

    spec = model_info("tp_r_a3")
    (folder / "m.onnx").write_bytes(onnx_bytes(build("tp_r_a3", weights=None), spec))
    model = ov.convert_model(str(folder / "m.onnx"))
    ov.save_model(model, str(folder / "fp32.xml"), compress_to_fp16=False)
    crops = np.random.default_rng(0).standard_normal((16, 3, *spec.input_size)).astype(np.float32)
    ov.save_model(quantize_openvino(ov.convert_model(str(folder / "m.onnx")), crops, transformer=True),
                  str(folder / "int8.xml"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.reps, args.threads)))
        return 0
    from transpose_live.bench.model_bench import device_name

    import torch

    rows = []
    with tempfile.TemporaryDirectory(prefix="int8-isa-") as tmp:
        prepare(Path(tmp))
        for cap in CAPS:
            env = {**os.environ, "ONEDNN_MAX_CPU_ISA": cap}
            done = subprocess.run([sys.executable, __file__, "--child", tmp, "--reps", str(args.reps),
                                   "--threads", str(args.threads)], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{cap}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            ms = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"isa": cap, "fp32_ms": round(ms["fp32"], 1), "int8_ms": round(ms["int8"], 1),
                         "speedup": round(ms["fp32"] / ms["int8"], 2), "load": round(os.getloadavg()[0], 1)})
            print(rows[-1], file=sys.stderr)
    cpu = device_name(torch.device("cpu"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8-isa-cpu.json").write_text(json.dumps({"cpu": cpu, "threads": args.threads, "rows": rows}, indent=1))
    lines = [f"# OpenVINO INT8 vs fp32 per crop by instruction set (tp_r_a3, batch 1)", "",
             f"{cpu}, {args.threads} threads, oneDNN capped with ONEDNN_MAX_CPU_ISA, median of {args.reps} "
             "interleaved calls. `load`: the 1-minute load average (2 cores; above 2 other jobs competed: "
             "read the ratio, not the ms).", "",
             "| ISA cap | CPU kind | fp32 ms | INT8 ms | INT8 speed-up | load |", "|---|---|---|---|---|---|"]
    kinds = {"ALL": "this CPU (AMX, bf16)", "AVX512_CORE_VNNI": "AVX-512 + VNNI, no bf16",
             "AVX2_VNNI": "AVX2 + VNNI", "AVX2": "AVX2 only"}
    lines += [f"| {r['isa']} | {kinds[r['isa']]} | {r['fp32_ms']} | {r['int8_ms']} | {r['speedup']}x | {r['load']} |"
              for r in rows]
    (args.out / "int8-isa-cpu.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'int8-isa-cpu.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
