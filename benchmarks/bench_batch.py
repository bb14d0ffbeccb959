"""Throughput of `transpose-live batch` (local pool) against `transpose-live video` run on one file
at a time, on the same clips and options; wall clock including every process start.

    python benchmarks/bench_batch.py --frames 30 --workers 1,2 --repeat 2 [--detector-weights yolo11n-pose.pt]

The runs are interleaved (video, batch w1, batch w2, video, ...) and the fastest of the repeats is
kept, so load from other jobs on the machine hits every configuration alike. Writes
results/batch-<device>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "clips"
DEFAULT_CLIPS = "exercise.avi,squat.mp4,selfie-lsc_walk.mp4,walking.mp4"


def cut(src: Path, dst: Path, frames: int) -> int:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    n = 0
    while n < frames:
        ok, img = cap.read()
        if not ok:
            break
        out.write(img)
        n += 1
    out.release()
    cap.release()
    return n


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=DEFAULT_CLIPS, help="clip names in ../shared/data/clips")
    ap.add_argument("--frames", type=int, default=30, help="first N frames of each clip")
    ap.add_argument("--workers", default="1,2", help="batch pool sizes to time")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the fastest is kept")
    ap.add_argument("--model", default="tp_r_a3")
    ap.add_argument("--weights", default="random", help="random: untrained weights, the same compute")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--detector-weights", default=str(ROOT.parent / "shared" / "weights" / "yolo11n-pose.pt"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()

    run = [sys.executable, "-m", "transpose_live"]
    opts = ["--model", args.model, "--weights", args.weights, "--device", args.device,
            "--detector-weights", args.detector_weights, "--no-progress"]
    rows = []
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        frames = sum(cut(CLIPS / name, tmp / "in" / f"{Path(name).stem}.mp4", args.frames)
                     for name in args.clips.split(","))
        clips = sorted((tmp / "in").glob("*.mp4"))
        pools = list(map(int, args.workers.split(",")))
        walls: dict[str, list[float]] = {}
        for r in range(args.repeat):
            walls.setdefault("video", []).append(
                sum(timed(run + ["video", str(c), "--json", str(tmp / f"{c.stem}.jsonl"), *opts]) for c in clips))
            for w in pools:
                out = tmp / f"out{w}-{r}"  # a fresh folder: nothing skipped
                walls.setdefault(f"batch{w}", []).append(
                    timed(run + ["batch", str(tmp / "in"), "--out-dir", str(out), "--workers", str(w), *opts]))
        rows.append({"how": f"`video`, one file at a time ({len(clips)} processes)", "workers": 1,
                     "wall_s": min(walls["video"]), "all_wall_s": walls["video"]})
        for w in pools:
            rows.append({"how": f"`batch --workers {w}`", "workers": w, "wall_s": min(walls[f"batch{w}"]),
                         "all_wall_s": walls[f"batch{w}"]})
    base = rows[0]["wall_s"]
    for r in rows:
        r.update(frames=frames, fps=round(frames / r["wall_s"], 3), speedup=round(base / r["wall_s"], 3),
                 wall_s=round(r["wall_s"], 2), all_wall_s=[round(x, 2) for x in r["all_wall_s"]])
    meta = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "clips": args.clips,
            "frames_per_clip": args.frames, "repeat": args.repeat, "model": args.model, "device": args.device,
            "detector": Path(args.detector_weights).name, "load_average_start": load_start,
            "load_average_end": os.getloadavg()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"batch-{args.device}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"{len(clips)} clips x {args.frames} frames = {frames} frames, {args.model}, {meta['detector']}, "
          f"{args.device}, {meta['cores']} cores")
    print("| run | wall s (fastest) | all rounds s | frames/s | vs `video` one at a time |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['how']} | {r['wall_s']} | {r['all_wall_s']} | {r['fps']} | {r['speedup']}x |")


if __name__ == "__main__":
    main()
