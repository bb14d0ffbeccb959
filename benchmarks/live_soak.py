"""A bounded soak of `transpose-live webcam` against a flaky camera (not CI: it runs for minutes).

A loopback MJPEG IP camera (tests/live_servers.py) plays a shared clip; `webcam` runs on it with the
real person detector (yolo11n-pose from ../shared/weights) and tp_r_a3 (filled weights: the speed and
memory are those of the real model). Every `--every` seconds the camera goes away for `--down`
seconds (connections cut, port closed), alternating with a stall (connection kept, no data: the read
timeout must declare the loss). Recorded: crashes (exit code other than 130 after the final
Ctrl-C, or a traceback), the process's resident memory over time, downtime per outage (from the
JSONL event lines), frames and capture->output latency (from the summary), the machine's load.

    python benchmarks/live_soak.py                      # 10 minutes, an outage every minute
    python benchmarks/live_soak.py --minutes 2 --every 30 --out /tmp/soak
Results: benchmarks/results/live-soak-cpu.json and .md (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import shutil
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def filled_weights(folder: Path) -> Path:
    import torch
    from helpers import filled_model

    path = folder / "tp_r_a3_fill.pth"
    if not path.exists():
        torch.save(filled_model("tp_r_a3").state_dict(), path)
    return path


class Outages:
    """Cuts the camera every `every` s for `down` s; odd outages are stalls instead of disconnects."""

    def __init__(self, camera: MjpegCamera, every: float, down: float) -> None:
        self.camera, self.every, self.down = camera, every, down
        self.done: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(self.every - self.down):
            n += 1
            kind = "stall" if n % 2 == 0 else "disconnect"
            t0 = time.time()
            if kind == "stall":
                self.camera.paused = True  # connections stay open, no frames
                self.stop.wait(self.down)
                self.camera.paused = False
            else:
                self.camera.stop()
                self.stop.wait(self.down)
                self.camera.start()
            self.done.append({"kind": kind, "at": round(t0, 1), "seconds": round(time.time() - t0, 2)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--every", type=float, default=60, help="seconds between outages")
    ap.add_argument("--down", type=float, default=5, help="seconds each outage lasts")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--name", default="live-soak-cpu")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="live-soak-"))  # weights and the JSONL stay out of the results
    camera = MjpegCamera(clip_jpegs(SHARED / "data" / "clips" / "squat.mp4", count=120, width=640), fps=15).start()
    jsonl = work / "soak.jsonl"
    cmd = [sys.executable, "-m", "transpose_live", "webcam", "--camera", camera.url, "--json", str(jsonl),
           "--model", "tp_r_a3", "--weights", str(filled_weights(work)), "--device", "cpu",
           "--detector-weights", str(SHARED / "weights" / "yolo11n-pose.pt"), "--det-every", "3",
           "--read-timeout", "2", "--threads", "2", "--no-show"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    outages = Outages(camera, args.every, args.down)
    memory, loads = [], []
    t0 = time.time()
    threading.Thread(target=outages.run, daemon=True).start()
    while time.time() - t0 < args.minutes * 60 and proc.poll() is None:
        memory.append((round(time.time() - t0, 1), round(rss_mb(proc.pid), 1)))
        loads.append(os.getloadavg()[0])
        time.sleep(5)
    outages.stop.set()
    crashed_early = proc.poll() is not None
    if not crashed_early:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    camera.stop()
    time.sleep(0.5)
    report(args, proc.returncode, crashed_early, "".join(err), jsonl, memory, loads, outages.done)
    shutil.rmtree(work, ignore_errors=True)


def report(args, rc, crashed_early, stderr, jsonl, memory, loads, outages) -> None:
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    events = [r for r in lines if "event" in r]
    downtimes = [e["downtime"] for e in events if e["event"] == "reconnected"]
    found = re.search(r"latency p50 (\d+) ms p95 (\d+) ms", stderr)
    fps = re.search(r"([\d.]+) fps end-to-end", stderr)
    steady = [m for t, m in memory if t >= 60] or [m for _, m in memory]
    result = {
        "minutes": args.minutes, "outage_every_s": args.every, "outage_s": args.down,
        "exit_code": rc, "crashes": int(crashed_early or rc != 130 or "Traceback" in stderr),
        "frames": sum(1 for r in lines if "frame" in r), "fps_end_to_end": float(fps.group(1)) if fps else None,
        "latency_p50_ms": int(found.group(1)) if found else None, "latency_p95_ms": int(found.group(2)) if found else None,
        "outages_caused": outages, "losses_seen": sum(e["event"] == "lost" for e in events),
        "reconnections": len(downtimes), "downtime_per_outage_s": downtimes,
        "memory_mb": memory, "memory_growth_after_1_min_mb": round(max(steady) - min(steady), 1) if steady else None,
        "load_avg_1min_mean": round(sum(loads) / max(len(loads), 1), 1), "cpus": os.cpu_count(),
        "stderr_tail": stderr.splitlines()[-8:],
    }
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    md = [f"# Live soak: {args.minutes:g} min, an outage every {args.every:g} s ({args.down:g} s, disconnect/stall alternating)",
          "", f"Exit code {rc} (130 = the final Ctrl-C), crashes: **{result['crashes']}**.",
          f"Frames {result['frames']}, {result['fps_end_to_end']} fps end-to-end, capture->output latency p50 "
          f"{result['latency_p50_ms']} ms, p95 {result['latency_p95_ms']} ms.",
          f"Outages caused {len(outages)}, losses seen {result['losses_seen']}, reconnections {len(downtimes)}; "
          f"downtime per outage (s): {', '.join(f'{d:.1f}' for d in downtimes)}.",
          f"Resident memory (MB) every 5 s from {memory[0][1] if memory else '-'} to {memory[-1][1] if memory else '-'}; "
          f"spread after the first minute {result['memory_growth_after_1_min_mb']} MB.",
          f"Machine: {result['cpus']} CPUs, mean 1-min load average {result['load_avg_1min_mean']} (other jobs shared it).",
          "", "Memory over time (s, MB): " + ", ".join(f"{t:g}:{m:g}" for t, m in memory[::6])]
    (args.out / f"{args.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
