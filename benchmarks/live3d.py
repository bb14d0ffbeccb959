"""Live multi-camera 3D: `transpose-live webcam --calibration --json3d` with 2 and 4 loopback MJPEG cameras
playing ../shared/data/multiview at full size (1080x1920, the calibration's pixels), YOLO11n-pose keypoints
(`--model detector`), for a fixed time each. The cameras are synchronised (one shared clock, as a genlocked
rig; the recording is) or free-running (each from its own connection, as unsynchronised webcams). Per run:
3D frames per second, the share of them with a person, the skew (spread of the capture times triangulated
together; median, p95), how often a camera was late (more than half a period behind), the per-camera fps
and the median thigh / shank lengths. Not CI (it runs for minutes).

    python benchmarks/live3d.py                          # 2 and 4 cameras, synchronised and free, 30 s each
    python benchmarks/live3d.py --cameras 4 --modes sync --seconds 60 --name live3d-cpu-long
    python benchmarks/live3d.py --modes sync --serve --name live3d-serve-cpu   # each also with --serve + a /ws client
Results: benchmarks/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from live_servers import MjpegCamera, clip_jpegs, free_port  # noqa: E402
from ws_clients import follow  # noqa: E402

from transpose_live.keypoints import COCO17  # noqa: E402
from transpose_live.triangulation.metrics import first_person_points, leg_lengths  # noqa: E402

MULTIVIEW = SHARED / "data" / "multiview"
QCA = MULTIVIEW / "calibration" / "Calib.qca.txt"
WEIGHTS = SHARED / "weights" / "yolo11n-pose.pt"


def run(n: int, mode: str, seconds: float, fps: float, jpegs: list, common: list[str], served: bool = False) -> dict:
    """One run; `served`: with --serve and a websockets client following /ws (the 3D view's feed)."""
    clock = time.perf_counter() + 0.5 if mode == "sync" else None
    cams = [MjpegCamera(jpegs[i], fps=fps, clock=clock).start() for i in range(n)]
    out = Path(tempfile.mkdtemp()) / "live3d.jsonl"
    port = free_port()
    cmd = [sys.executable, "-m", "transpose_live", "webcam",
           *[a for i, c in enumerate(cams) for a in ("--camera", f"cam0{i + 1}={c.url}")],
           "--calibration", str(QCA), "--json3d", str(out), *common, *(["--serve", f"127.0.0.1:{port}"] if served else [])]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    got: list[dict] = []
    stop = threading.Event()
    if served:
        threading.Thread(target=follow, args=(f"ws://127.0.0.1:{port}/ws", got, stop), daemon=True).start()
    time.sleep(seconds)
    load = os.getloadavg()[0]
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    stop.set()
    for c in cams:
        c.stop()
    text = "".join(err)
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    seen = [rec for rec in lines if rec["persons"]]
    skews = np.array([rec["skew"] for rec in seen], float) * 1000
    span = lines[-1]["timestamp"] - lines[0]["timestamp"] if len(lines) > 1 else float("nan")
    per_camera = [float(m) for m in re.findall(r"camera \d+ \(cam0\d\): \d+ frames, ([\d.]+) fps", text)]
    return {"cameras": n, "mode": mode, "exit_code": proc.returncode, "frames_3d": len(lines),
            "with_person": len(seen), "frames_3d_per_s": round((len(lines) - 1) / span, 2) if span > 0 else None,
            "skew_ms_median": round(float(np.median(skews)), 1) if len(skews) else None,
            "skew_ms_p95": round(float(np.percentile(skews, 95)), 1) if len(skews) else None,
            "ticks_with_late_camera": round(sum(bool(r["late"]) for r in lines) / max(len(lines), 1), 3),
            "fps_per_camera": per_camera, "bones_m": leg_lengths(first_person_points(seen), COCO17), "load_avg_1min": round(load, 2),
            "summary_3d": next((s for s in text.splitlines() if s.startswith("3D:")), None), "served": served,
            "ws_pose3d": sum(g.get("type") == "pose3d" for g in got) if served else None}


def markdown(result: dict) -> str:
    lines = [f"# Live multi-camera 3D ({result['device']}, {result['detector']}, loopback MJPEG cameras at "
             f"{result['fps']:g} fps, 1080x1920, {result['seconds']:g} s each; {result['cpu']}, {result['load']})", "",
             "| cameras | cameras' clocks | 3D frames/s | with a person | skew median / p95 (ms) | ticks with a late camera "
             "| fps per camera | thigh / shank (m) | --serve: 3D frames on /ws | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        b = r["bones_m"]
        lines.append(f"| {r['cameras']} | {r['mode']} | {r['frames_3d_per_s']} | {r['with_person']} of {r['frames_3d']} "
                     f"| {r['skew_ms_median']} / {r['skew_ms_p95']} | {100 * r['ticks_with_late_camera']:.0f} % "
                     f"| {', '.join(f'{v:g}' for v in r['fps_per_camera'])} | {b['thigh']} / {b['shank']} "
                     f"| {'-' if not r.get('served') else r['ws_pose3d']} | {r['load_avg_1min']} |")
    lines += ["", "sync: the cameras send the frame of one shared clock (a genlocked rig); free: each counts from its "
              "own connection (unsynchronised webcams), so their captures fall anywhere within a frame period and "
              "views more than half a period behind the newest are left out of that 3D frame (`late`; with 2 "
              "cameras that leaves one view, so no person). A view's time is when its capture thread had the decoded "
              "frame, so on a loaded CPU the skew of synchronised cameras includes the decoding's jitter (four "
              "1080x1920 MJPEG streams decoded beside the model). 3D frames/s follows the frame loop: every camera's "
              "frames go through the detector each pass.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="2,4")
    ap.add_argument("--modes", default="sync,free")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fps", type=float, default=15)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--load", default="", help="the machine's load, for the title (e.g. '2 cores shared with 2 jobs')")
    ap.add_argument("--name", default="live3d-cpu")
    ap.add_argument("--serve", action="store_true", help="each run also with --serve and a /ws client (alternated)")
    args = ap.parse_args()
    counts = [int(c) for c in args.cameras.split(",")]
    jpegs = [clip_jpegs(MULTIVIEW / "videos" / f"cam0{i}.mp4", count=100, width=1080) for i in range(1, max(counts) + 1)]
    common = ["--model", "detector", "--detector-weights", str(WEIGHTS), "--detector-backend", "torch",
              "--device", args.device, "--no-show", "--no-progress"]
    serving = (False, True) if args.serve else (False,)
    runs = [run(n, mode, args.seconds, args.fps, jpegs, common, served) for n in counts
            for mode in args.modes.split(",") for served in serving]
    result = {"device": args.device, "detector": "yolo11n-pose keypoints (--model detector, torch)", "fps": args.fps,
              "seconds": args.seconds, "cpu": f"{os.cpu_count()} CPUs", "load": args.load or "load as measured",
              "runs": runs}
    folder = ROOT / "benchmarks" / "results"
    (folder / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (folder / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
