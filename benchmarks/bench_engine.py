"""Benchmark the pose engine: heatmap decoding and estimator throughput.

    python benchmarks/bench_engine.py                       # auto device
    python benchmarks/bench_engine.py --device cpu --iters 3 --warmup 1

1. Decode (DARK) of N people x 17 joints: ours (torch, batched on the device) against a per-joint
   numpy loop written here in the style of the reference implementation (cv2 blur per map, one
   Newton step per joint, per-person transform back).
2. PoseEstimator.estimate on a 1280x720 frame with N boxes (crop -> model -> flip test -> decode ->
   CPU), in crops/s (people per second), on CPU fp32 and on CUDA fp16 when available.

Prints rich tables and writes benchmarks/results/engine-<device>.json (<device>: cpu or the GPU's
name as a slug).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from transpose_live.bench.timing import time_callable
from transpose_live.device import resolve_device
from transpose_live.engine import PoseEstimator
from transpose_live.engine.decode import decode

RESULTS = Path(__file__).resolve().parent / "results"
JOINTS, HM_H, HM_W = 17, 64, 48


# ---------------------------------------------------------------- reference-style numpy decoder
def _numpy_dark(heatmaps: np.ndarray, center: np.ndarray, scale: np.ndarray, ksize: int = 11) -> np.ndarray:
    """DARK as a per-map / per-joint Python loop (the structure of the reference's decoder)."""
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, -1)
    idx = flat.argmax(-1)
    maxvals = flat.max(-1)
    coords = np.stack((idx % w, idx // w), -1).astype(np.float32) * (maxvals > 0)[..., None]
    pad = (ksize - 1) // 2
    logs = np.empty_like(heatmaps)
    for a in range(n):
        for b in range(j):
            padded = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
            padded[pad:-pad, pad:-pad] = heatmaps[a, b]
            blurred = cv2.GaussianBlur(padded, (ksize, ksize), 0)[pad:-pad, pad:-pad]
            top = blurred.max()
            if top != 0:
                blurred = blurred * (heatmaps[a, b].max() / top)
            logs[a, b] = np.log(np.maximum(blurred, 1e-10))
    for a in range(n):
        for b in range(j):
            m = logs[a, b]
            px, py = int(coords[a, b, 0]), int(coords[a, b, 1])
            if 1 < px < w - 2 and 1 < py < h - 2:
                dx = 0.5 * (m[py, px + 1] - m[py, px - 1])
                dy = 0.5 * (m[py + 1, px] - m[py - 1, px])
                dxx = 0.25 * (m[py, px + 2] - 2 * m[py, px] + m[py, px - 2])
                dyy = 0.25 * (m[py + 2, px] - 2 * m[py, px] + m[py - 2, px])
                dxy = 0.25 * (m[py + 1, px + 1] - m[py - 1, px + 1] - m[py + 1, px - 1] + m[py - 1, px - 1])
                hess = np.array([[dxx, dxy], [dxy, dyy]], np.float64)
                if np.linalg.det(hess) != 0:
                    coords[a, b] -= np.linalg.inv(hess) @ np.array([dx, dy])
    out = np.empty_like(coords)
    for a in range(n):
        k = (w - 1) / (scale[a, 0] * 200.0 - 1.0)
        out[a, :, 0] = (coords[a, :, 0] - (w - 1) / 2) / k + center[a, 0]
        out[a, :, 1] = (coords[a, :, 1] - (h - 1) / 2) / k + center[a, 1]
    return out


def synthetic_heatmaps(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n x 17 Gaussian heatmaps (sigma 2, sub-pixel centres, a little noise) with center/scale."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform((4, 4), (HM_W - 5, HM_H - 5), (n, JOINTS, 2))
    ys, xs = np.mgrid[0:HM_H, 0:HM_W]
    d2 = (xs - mu[..., 0, None, None]) ** 2 + (ys - mu[..., 1, None, None]) ** 2
    hm = np.exp(-d2 / 8.0) * rng.uniform(0.3, 1.0, (n, JOINTS, 1, 1)) + rng.normal(0, 0.01, d2.shape)
    center = rng.uniform(200, 1000, (n, 2))
    scale = rng.uniform(0.5, 2.5, (n, 1)) * np.array([[1.0, 4 / 3]])
    return hm.astype(np.float32), center, scale


# ---------------------------------------------------------------- benchmarks
def bench_decode(device: torch.device, people: list[int], warmup: int, iters: int) -> list[dict]:
    rows = []
    cpu = torch.device("cpu")
    for n in people:
        hm, center, scale = synthetic_heatmaps(n)
        hm_t = torch.from_numpy(hm).to(device)
        c_t = torch.from_numpy(center).to(device)
        s_t = torch.from_numpy(scale).to(device)
        ours = time_callable(lambda: decode(hm_t, c_t, s_t, "dark"), device, warmup, iters)
        loop = time_callable(lambda: _numpy_dark(hm, center, scale), cpu, min(warmup, 1), max(1, iters // 2))
        diff = float(np.abs(decode(hm_t, c_t, s_t, "dark")[0].cpu().numpy() - _numpy_dark(hm, center, scale)).max())
        rows.append(dict(people=n, maps=n * JOINTS, ours_ms=ours.median_ms, numpy_loop_ms=loop.median_ms,
                         speedup=loop.median_ms / ours.median_ms, max_abs_diff_px=diff))
    return rows


def bench_estimator(device: torch.device, model: str, people: list[int], flip_tests: list[bool],
                    warmup: int, iters: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    for flip in flip_tests:
        est = PoseEstimator(model=model, weights=None, device=device, flip_test=flip, max_batch=64)
        for n in people:
            x1 = rng.uniform(0, 1000, n)
            y1 = rng.uniform(0, 300, n)
            boxes = np.stack((x1, y1, x1 + rng.uniform(60, 280, n), y1 + rng.uniform(150, 420, n)), 1)
            t = time_callable(lambda: est.estimate(frame, boxes), device, warmup, iters)
            rows.append(dict(model=model, people=n, flip_test=flip, precision="fp16" if est.half else "fp32",
                             ms_per_frame=t.median_ms, p90_ms=t.p90_ms, crops_per_s=n * 1000.0 / t.median_ms))
    return rows


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="tp_r_a4")
    parser.add_argument("--people", default="1,8,32", help="comma-separated people per frame")
    parser.add_argument("--flip", choices=("on", "off", "both"), default="both")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    iters = args.iters if args.iters is not None else (50 if cuda else 3)
    people = [int(p) for p in args.people.split(",") if p.strip()]
    flips = {"on": [True], "off": [False], "both": [True, False]}[args.flip]
    name = slug(torch.cuda.get_device_name(device)) if cuda else "cpu"
    console = Console()
    console.print(f"engine benchmark on {name} ({device}), torch {torch.__version__}, "
                  f"{torch.get_num_threads()} CPU threads, warmup {warmup}, iters {iters}")

    decode_rows = bench_decode(device, people, warmup, iters)
    table = Table(title=f"DARK decode, {name}: torch batched vs per-joint numpy loop")
    for col in ("people", "maps", "ours ms", "numpy loop ms", "speed-up", "max |diff| px"):
        table.add_column(col, justify="right")
    for r in decode_rows:
        table.add_row(str(r["people"]), str(r["maps"]), f"{r['ours_ms']:.3f}", f"{r['numpy_loop_ms']:.2f}",
                      f"{r['speedup']:.1f}x", f"{r['max_abs_diff_px']:.1e}")
    console.print(table)

    est_rows = bench_estimator(device, args.model, people, flips, warmup, iters)
    table = Table(title=f"PoseEstimator.estimate, {args.model}, 1280x720 frame, {name}")
    for col in ("people", "flip test", "precision", "ms / frame", "p90 ms", "crops/s"):
        table.add_column(col, justify="right")
    for r in est_rows:
        table.add_row(str(r["people"]), "on" if r["flip_test"] else "off", r["precision"],
                      f"{r['ms_per_frame']:.1f}", f"{r['p90_ms']:.1f}", f"{r['crops_per_s']:.1f}")
    console.print(table)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"engine-{name}.json"
    record = dict(
        device=name, torch=torch.__version__, python=platform.python_version(), cpu_threads=torch.get_num_threads(),
        warmup=warmup, iters=iters, decode=decode_rows, estimator=est_rows,
    )
    path.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
