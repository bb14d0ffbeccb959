"""The GPU suite's smaller steps (benchmarks/gpu_suite.sh part 2), each writing <out>/gpu-<step>.{json,md}.

    python benchmarks/gpu_report.py pipeline OUT            # gpu-pipeline-{no-render,render}.json -> one table
    python benchmarks/gpu_report.py bf16 OUT --device cuda --models tp_r_a4,tp_h_a6 --batches 1,8,32,64
    python benchmarks/gpu_report.py cameras OUT --device cuda --cameras 4 --frames 150 --model tp_r_a4 \
        --detector-weights ../shared/weights/yolo11n-pose.pt --clips ../shared/data/clips

Exit status 3 means "skipped" (the suite prints the last line as the reason): `cameras` when the
multi-camera webcam (`--camera` given several times) is not available in this checkout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SKIPPED = 3


def pipeline(out: Path) -> int:
    runs = {r: json.loads((out / f"gpu-pipeline-{r}.json").read_text()) for r in ("no-render", "render")}
    (out / "gpu-pipeline.json").write_text(json.dumps(runs, indent=1) + "\n")
    env = runs["render"]["environment"]
    lines = [f"# walking.mp4 end to end on {env.get('device_name', env.get('device'))} vs the peer", "",
             "| run | transpose-live fps | peer fps | ratio | persons/frame |", "|---|---|---|---|---|"]
    for name, r in runs.items():
        p = r["pipeline"]
        lines.append(f"| {p['model']} {p['precision']}, {name} | {p['fps']:.1f} | {r['peer']['fps']:.1f} | "
                     f"{r['ratio']:.2f}x | {p['persons'] / max(p['frames'], 1):.1f} |")
    (out / "gpu-pipeline.md").write_text("\n".join(lines) + "\n")
    for r in runs:
        (out / f"gpu-pipeline-{r}.json").unlink()
    print("\n".join(lines))
    return 0


def bf16(out: Path, device: str, models: str, batches: str, precisions: str) -> int:
    """crops/s of the estimator's module (folded, channels-last) per precision: fp16 vs bf16 (issue #22)."""
    import torch

    from transpose_live.bench.model_bench import strict_fp32
    from transpose_live.bench.timing import time_callable
    from transpose_live.engine import PoseEstimator
    from transpose_live.engine.precision import cpu_half_allowed
    from transpose_live.models import load_model

    dev = torch.device(device)
    warmup, iters = (5, 20) if dev.type == "cuda" else (1, 2)
    records = []
    for name in models.split(","):
        loaded = load_model(name, None, device="cpu")
        for precision in precisions.split(","):
            with cpu_half_allowed(), strict_fp32(precision == "fp32"):
                est = PoseEstimator.from_module(loaded.module, loaded.spec, device=dev, precision=precision)
                est.warmup()
                for batch in (int(b) for b in batches.split(",")):
                    x = torch.randn(batch, 3, *est.spec.input_size, device=dev).to(est.dtype)
                    x = x.contiguous(memory_format=torch.channels_last)

                    def forward(model=est.model, x=x):
                        with torch.inference_mode():
                            model(x)

                    t = time_callable(forward, dev, warmup, iters)
                    records.append({"model": name, "precision": precision, "batch": batch,
                                    "ms_median": round(t.median_ms, 3),
                                    "crops_per_s": round(batch * 1000 / t.median_ms, 1)})
                    print(json.dumps(records[-1]), flush=True)
            del est
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    (out / "gpu-bf16.json").write_text(json.dumps({"device_name": name, "torch": torch.__version__,
                                                   "records": records}, indent=1) + "\n")
    lines = [f"# crops/s per precision on {name} (folded, channels-last, random weights)", "",
             "| model | batch | " + " | ".join(precisions.split(",")) + " |",
             "|---|---|" + "---|" * len(precisions.split(","))]
    for m in models.split(","):
        for b in batches.split(","):
            row = {r["precision"]: r["crops_per_s"] for r in records if r["model"] == m and r["batch"] == int(b)}
            lines.append(f"| {m} | {b} | " + " | ".join(str(row.get(p, "-")) for p in precisions.split(",")) + " |")
    (out / "gpu-bf16.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _webcam(cameras: list[Path], json_path: str, args) -> list[str]:
    cmd = [sys.executable, "-m", "transpose_live", "webcam", "--model", args.model, "--weights", "random",
           "--backend", "torch", "--device", args.device, "--detector-weights", str(args.detector_weights),
           "--detector-backend", "torch", "--max-frames", str(args.frames), "--json", json_path, "--no-progress"]
    for c in cameras:
        cmd += ["--camera", str(c)]
    return cmd


def _frames(paths) -> list[int]:
    return [sum(1 for line in open(p) if line.strip()) if Path(p).exists() else 0 for p in paths]


def cameras(out: Path, args) -> int:
    """N clips as live cameras: one process batching them on one model vs N processes of one camera each."""
    clips = sorted(Path(args.clips).glob("*.mp4"))[: args.cameras]
    work = out / "cameras"
    work.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(_webcam(clips[:2], str(work / "probe-{camera}.jsonl"), argparse.Namespace(
        **{**vars(args), "frames": 1})), capture_output=True, text=True, timeout=180)
    per_camera = [p for p in work.glob("probe-*.jsonl") if "{camera}" not in p.name]
    last = (probe.stderr.strip().splitlines() or ["no output"])[-1][:200]
    if probe.returncode not in (0, 2):  # a crash is a failure, not a missing feature
        print(f"webcam failed (exit {probe.returncode}): {last}")
        return 1
    if probe.returncode == 2 or len(per_camera) < 2:  # a one-line refusal, or the last --camera taken alone
        reason = last if probe.returncode else "--camera given twice ran one camera"
        print(f"multi-camera webcam not available in this checkout: {reason}")
        return SKIPPED
    start = time.perf_counter()
    one = subprocess.run(_webcam(clips, str(work / "one-{camera}.jsonl"), args), capture_output=True, text=True)
    one_s = time.perf_counter() - start
    one_frames = _frames(sorted(work.glob("one-*.jsonl")))
    start = time.perf_counter()
    procs = [subprocess.Popen(_webcam([c], str(work / f"many-{i}.jsonl"), args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i, c in enumerate(clips)]
    codes = [p.wait() for p in procs]
    many_s = time.perf_counter() - start
    many_frames = _frames([work / f"many-{i}.jsonl" for i in range(len(clips))])
    result = {"cameras": [c.name for c in clips], "model": args.model, "device": args.device,
              "one_process": {"exit": one.returncode, "seconds": round(one_s, 2), "frames": one_frames,
                              "fps_total": round(sum(one_frames) / one_s, 2)},
              "n_processes": {"exit": codes, "seconds": round(many_s, 2), "frames": many_frames,
                              "fps_total": round(sum(many_frames) / many_s, 2)},
              "note": "wall time includes start-up (model load) in both; live file cameras play at their own speed"}
    (out / "gpu-cameras.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# {len(clips)} cameras on {args.device}, {args.model}: one process vs {len(clips)} processes", "",
             "| run | wall s | frames per camera | total fps |", "|---|---|---|---|",
             f"| one process, one model | {one_s:.1f} | {one_frames} | {result['one_process']['fps_total']} |",
             f"| {len(clips)} processes | {many_s:.1f} | {many_frames} | {result['n_processes']['fps_total']} |"]
    (out / "gpu-cameras.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if one.returncode == 0 and not any(codes) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("pipeline", "bf16", "cameras"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", default="tp_r_a4,tp_h_a6")
    parser.add_argument("--batches", default="1,8,32,64")
    parser.add_argument("--precisions", default=None, help="default: fp16,bf16 on CUDA, fp32,bf16 on the CPU")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--model", default="tp_r_a4")
    parser.add_argument("--detector-weights", type=Path, default=ROOT.parent / "shared/weights/yolo11n-pose.pt")
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared/data/clips")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "pipeline":
        return pipeline(args.out)
    if args.step == "bf16":
        precisions = args.precisions or ("fp16,bf16" if args.device.startswith("cuda") else "fp32,bf16")
        return bf16(args.out, args.device, args.models, args.batches, precisions)
    return cameras(args.out, args)


if __name__ == "__main__":
    raise SystemExit(main())
