"""Cameras x fps: `transpose-live webcam` with 1, 2, 4 ... loopback MJPEG cameras (15 fps, 640 px, the
shared squat clip: one person each) on one model, for a fixed time each; per camera fps and capture->output latency
from the run's own summary. Not CI (it runs for minutes).

    python benchmarks/live_cameras.py                       # 1, 2, 4 cameras, 40 s each, CPU
    python benchmarks/live_cameras.py --cameras 1,2,4,8 --seconds 60 --device cuda --name live-cameras-gpu
Results: benchmarks/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "tests"))

from live_servers import MjpegCamera, clip_jpegs  # noqa: E402

CLIPS = ["squat.mp4"]  # one person per camera: the cost grows with cameras, not with crowd size


def run(n: int, seconds: float, common: list[str]) -> dict:
    cams = [MjpegCamera(clip_jpegs(SHARED / "data" / "clips" / CLIPS[i % len(CLIPS)], count=90, width=640), fps=15).start()
            for i in range(n)]
    cmd = [sys.executable, "-m", "transpose_live", "webcam", *[a for c in cams for a in ("--camera", c.url)], *common]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    for c in cams:
        c.stop()
    time.sleep(0.3)
    text = "".join(err)
    per = [{"camera": int(m[0]), "frames": int(m[1]), "fps": float(m[2]), "p50_ms": int(m[3]), "p95_ms": int(m[4])}
           for m in re.findall(r"camera (\d+): (\d+) frames, ([\d.]+) fps, latency p50 (\d+) ms p95 (\d+) ms", text)]
    total = re.search(r"([\d.]+) fps end-to-end", text)
    return {"cameras": n, "exit_code": proc.returncode, "per_camera": per,
            "frames_per_s_all_cameras": float(total.group(1)) if total else None,
            "load_avg_1min": os.getloadavg()[0], "summary": text.strip().splitlines()[-(n + 3):]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", help="pose weights (default: tp_r_a3 filled weights, written once)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="live-cameras-cpu")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="live-cameras-"))  # weights and JSONL stay out of the results
    weights = args.weights
    if weights is None:
        import torch
        from helpers import filled_model

        weights = work / "tp_r_a3_fill.pth"
        torch.save(filled_model("tp_r_a3").state_dict(), weights)
    common = ["--model", "tp_r_a3", "--weights", str(weights), "--device", args.device,
              "--detector-weights", str(SHARED / "weights" / "yolo11n-pose.pt"), "--det-every", "3",
              "--json", str(work / "live-{camera}.jsonl"), "--no-show"]
    rows = [run(int(n), args.seconds, common) for n in args.cameras.split(",")]
    shutil.rmtree(work, ignore_errors=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(rows, indent=1))
    md = [f"# Cameras x fps ({args.device}, tp_r_a3 + yolo11n-pose detector every 3rd frame, 15 fps 640 px MJPEG "
          f"cameras on loopback, {args.seconds:g} s each; {os.cpu_count()} CPUs shared with other jobs)", "",
          "| cameras | fps per camera | all cameras, frames/s | latency p50 / p95 per camera (ms) | load avg |",
          "|---|---|---|---|---|"]
    for r in rows:
        fps = ", ".join(f"{c['fps']:.1f}" for c in r["per_camera"])
        lat = ", ".join(f"{c['p50_ms']}/{c['p95_ms']}" for c in r["per_camera"])
        md.append(f"| {r['cameras']} | {fps} | {r['frames_per_s_all_cameras']} | {lat} | {r['load_avg_1min']:.1f} |")
    (args.out / f"{args.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
