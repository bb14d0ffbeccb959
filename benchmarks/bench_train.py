"""Training throughput: crops/s of one optimiser step (forward, MSE heatmap loss, backward, Adam) and of
building the augmented training samples, per model and crop size.

    python benchmarks/bench_train.py --device cpu --models tp_r_a3,tp_h_s --sizes 256x192,128x96 --batch 8
    python benchmarks/bench_train.py --device cuda --amp bf16 --batch 32

Samples come from coco-mini (../shared) with the full augmentation; the step times use one fixed batch
so data loading is measured separately. Prints one line per model x size (median of --steps timed steps).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
COCO_MINI = ROOT.parent / "shared" / "data" / "coco-mini"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tp_r_a3")
    ap.add_argument("--sizes", default="256x192")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", default="off", choices=("off", "fp16", "bf16"))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from transpose_live.training.augmentation import AugmentConfig
    from transpose_live.training.datasets import load_dataset
    from transpose_live.training.loss import joints_mse_loss
    from transpose_live.training.model_setup import build_training_model
    from transpose_live.training.samples import SampleGeometry, TrainingSamples

    device = torch.device(args.device)
    dtype = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.amp]
    ann = COCO_MINI / "annotations" / "person_keypoints_train2017.json"
    print(f"device {device}, threads {torch.get_num_threads()}, batch {args.batch}, amp {args.amp}")
    for size_text in args.sizes.split(","):
        size = tuple(int(v) for v in size_text.split("x"))
        ds = load_dataset(ann, COCO_MINI / "train2017", size)
        samples = TrainingSamples(ds.records, ds.keypoints, SampleGeometry(size, (size[0] // 4, size[1] // 4), 2.0),
                                  AugmentConfig())
        t0 = time.perf_counter()
        items = [samples[i % len(samples)] for i in range(args.batch)]
        data_rate = args.batch / (time.perf_counter() - t0)
        x = torch.stack([i[0] for i in items]).to(device)
        y = torch.stack([i[1] for i in items]).to(device)
        w = torch.stack([i[2] for i in items]).to(device)
        for name in args.models.split(","):
            model, _ = build_training_model(name, len(ds.keypoints), size, "random")
            model.to(device).train()
            opt = torch.optim.Adam(model.parameters(), 1e-4, weight_decay=1e-4)
            scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
            times = []
            for step in range(args.warmup + args.steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    pred = model(x)
                loss = joints_mse_loss(pred.float(), y, w)
                opt.zero_grad(set_to_none=True)
                if scaler:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if step >= args.warmup:
                    times.append(time.perf_counter() - t)
            med = statistics.median(times)
            print(f"{name:10s} {size_text:>8s}: step {med * 1000:8.1f} ms = {args.batch / med:7.1f} crops/s "
                  f"(samples: {data_rate:6.1f} crops/s per loader process)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
