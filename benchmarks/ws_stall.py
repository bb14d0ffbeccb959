"""Does a stalled WebSocket client slow the run?

1. `video CLIP --serve 127.0.0.1:PORT` with no client and with a client that completes the /ws handshake
   and then never reads (receive buffer 2 kB), alternated, same frames; fps from each run's summary line.
   The stalled client reads what reached it after the run: the `dropped` count of the last message says
   how many frames the server dropped for it instead of waiting.
2. The pose loop's side in-process: a `LiveView` + the real server, frames of 30 people (about 30 kB of
   JSON each) written by the view's writer at 100 per second with 0 or 3 stalled clients; the time each
   write takes (what the output thread pays), and how many frames the stalled clients lost. At the
   frame rates of part 1 the kernel's loopback buffers hold everything a stalled client gets, so part 2
   is where its queue fills and drops.

    python benchmarks/ws_stall.py            # writes benchmarks/results/ws-stall-cpu.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CLIP = ROOT.parent / "shared" / "data" / "clips" / "walking.mp4"
sys.path.insert(0, str(ROOT / "tests"))

from live_servers import free_port  # noqa: E402
from ws_clients import stalled_client  # noqa: E402


def stall(port: int, result: dict, stop: threading.Event) -> None:
    """Handshake as soon as the server is up, never read during the run; afterwards drain and parse."""
    while not stop.is_set():
        try:
            sock = stalled_client(port)
            break
        except OSError:
            time.sleep(0.005)
    else:
        return
    stop.wait()  # the run goes on; nothing is read
    data = b""
    sock.settimeout(5)
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except OSError:
        pass
    sock.close()
    result["frames_received"] = len(re.findall(rb'"frame":\d+', data))
    dropped = re.findall(rb'"dropped":(\d+)', data)
    result["dropped"] = int(dropped[-1]) if dropped else None


def writer_cost(clients: int, frames: int = 600, persons: int = 30) -> dict:
    """Part 2: ms per ViewWriter.write with `clients` stalled clients connected."""
    import numpy as np

    from transpose_live.pipeline.sources import Frame
    from transpose_live.pipeline.web_app import WebServer
    from transpose_live.pipeline.web_view import LiveView
    from transpose_live.poses import Poses

    view = LiveView(["cam"])
    server = WebServer(view, "127.0.0.1:0").start()
    socks = [stalled_client(server.port) for _ in range(clients)]
    while view.clients < clients:
        time.sleep(0.01)
    image = np.zeros((480, 640, 3), np.uint8)
    poses = Poses(np.random.default_rng(0).uniform(0, 400, (persons, 17, 3)).astype(np.float32),
                  np.tile(np.array([[10, 20, 110, 170]], np.float32), (persons, 1)), np.ones(persons, np.float32))
    writer, spent = view.writer(0), []
    for i in range(frames):
        frame = Frame(i, image, i / 100, time.perf_counter())
        t0 = time.perf_counter()
        writer.write(frame, poses, image)
        spent.append(time.perf_counter() - t0)
        time.sleep(max(0.0, 0.01 - spent[-1]))
    time.sleep(1.0)
    dropped = view.client_drops
    server.stop()
    for sock in socks:
        sock.close()
    return {"clients": clients, "ms_per_write": round(1000 * statistics.mean(spent), 3),
            "ms_p99": round(1000 * sorted(spent)[int(0.99 * len(spent))], 3), "dropped": dropped,
            "load": round(os.getloadavg()[0], 1)}


def run(frames: int, with_client: bool) -> dict:
    port = free_port()
    result: dict = {}
    stop = threading.Event()
    thread = threading.Thread(target=stall, args=(port, result, stop), daemon=True) if with_client else None
    if thread:
        thread.start()
    done = subprocess.run([sys.executable, "-m", "transpose_live", "video", str(CLIP), "--max-frames", str(frames),
                           "--model", "tp_r_a3", "--weights", "random", "--device", "cpu", "--detector", "none",
                           "--threads", "1", "--no-progress", "--hud", "--serve", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, cwd=ROOT)
    stop.set()
    if thread:
        thread.join(timeout=30)
    fps = re.search(r"([\d.]+) fps end-to-end", done.stderr)
    if done.returncode != 0 or not fps:
        raise SystemExit(done.stderr[-2000:])
    return {"client": "stalled" if with_client else "none", "fps": float(fps.group(1)),
            "load": round(os.getloadavg()[0], 1), **result}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = []
    for _ in range(args.repeats):
        for with_client in (False, True):
            runs.append(run(args.frames, with_client))
            print(runs[-1], file=sys.stderr)
    costs = [writer_cost(n) for n in (0, 3, 0, 3)]
    for c in costs:
        print(c, file=sys.stderr)
    med = {k: statistics.median(r["fps"] for r in runs if r["client"] == k) for k in ("none", "stalled")}
    stalled = [r for r in runs if r["client"] == "stalled"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ws-stall-cpu.json").write_text(json.dumps({"frames": args.frames, "runs": runs, "median_fps": med,
                                                            "writer_cost": costs},
                                                           indent=1))
    lines = ["# A stalled WebSocket client vs the run's fps", "",
             f"`video walking.mp4 --max-frames {args.frames} --serve` (tp_r_a3 random weights, --detector none, "
             f"1 thread, --hud), runs alternated. The stalled client handshakes on /ws and never reads "
             "(2 kB receive buffer). `load`: 1-minute load average on the 2-core machine.", "",
             "| client | fps (each run) | median fps | frames that reached the client | dropped for it |",
             "|---|---|---|---|---|",
             f"| none | {', '.join(str(r['fps']) for r in runs if r['client'] == 'none')} | {med['none']} | - | - |",
             f"| stalled | {', '.join(str(r['fps']) for r in stalled)} | {med['stalled']} | "
             f"{', '.join(str(r.get('frames_received')) for r in stalled)} | "
             f"{', '.join(str(r.get('dropped')) for r in stalled)} |", "",
             f"Ratio stalled / none: {med['stalled'] / med['none']:.2f}; loads {', '.join(str(r['load']) for r in runs)}.",
             "", "## The output thread's cost per frame (in-process, 30 people per frame, 100 frames/s)", "",
             "| stalled clients | ms per write (mean) | p99 | frames dropped per stalled client | load |",
             "|---|---|---|---|---|"]
    lines += [f"| {c['clients']} | {c['ms_per_write']} | {c['ms_p99']} | {', '.join(map(str, c['dropped'])) or '-'} | "
              f"{c['load']} |" for c in costs]
    (args.out / "ws-stall-cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
