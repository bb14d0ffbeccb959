"""Multi-camera 3D on the shared recording (../shared/data/multiview: 4 cameras, 1080x1920, 60 fps, 100
frames, Qualisys calibration) with real 2D keypoints.

    python benchmarks/multiview.py [--imgsz 640] [--out multiview]

2D: YOLO11n-pose over every frame of each view (tracked ids, no smoothing), written in our JSONL schema
(tests/analytics_clips.py; cached in ~/.cache/transpose-live-bench). Then, for the main person:
- ours: `triangulate` (epipolar association, weighted DLT with view rejection, 3D RTS smoothing);
- ours without the 3D filter;
- plain: a confidence-weighted DLT of every view of the largest person per view (no rejection, no filter).
Reported: frames triangulated, median reprojection error (px), bone lengths (m) and their coefficient of
variation over time (thigh, shank, upper arm, forearm, both sides; a real bone keeps its length), and the
live triangulator's ticks per second with 2 and 4 cameras (triangulation only, on the recorded 2D).
Writes benchmarks/results/<NAME>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from analytics_clips import SHARED, record_yolo_poses  # noqa: E402

from transpose_live.calib.camera import Calibration  # noqa: E402
from transpose_live.calib.formats import read_calibration  # noqa: E402
from transpose_live.pose_files import read_poses  # noqa: E402
from transpose_live.triangulation.filtering import filter_recording  # noqa: E402
from transpose_live.triangulation.metrics import summary  # noqa: E402
from transpose_live.triangulation.session import Recording3D, Triangulator  # noqa: E402
from transpose_live.triangulation.sync import make_ticks  # noqa: E402

MULTIVIEW = SHARED / "data" / "multiview"
CACHE = Path.home() / ".cache" / "transpose-live-bench"


def poses_2d(imgsz: int) -> list[Path]:
    out = []
    for i in range(1, 5):
        path = CACHE / f"multiview-cam0{i}-yolo11n-pose-{imgsz}.jsonl"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            record_yolo_poses(MULTIVIEW / "videos" / f"cam0{i}.mp4", path, imgsz=imgsz)
        out.append(path)
    return out


def run(calib: Calibration, ticks, filtered: bool, **options) -> dict:
    tri = Triangulator(calib, **options)
    start = time.perf_counter()
    rec = Recording3D.from_frames([tri.tick(t) for t in ticks])
    seconds = time.perf_counter() - start
    if filtered:
        filter_recording(rec)
    return {**summary(rec), "ticks_per_s": len(ticks) / seconds}


def live_rate(calib: Calibration, recordings, cameras: int) -> float:
    sub = Calibration(calib.cameras[:cameras])
    ticks = make_ticks(recordings[:cameras], sub.names)
    tri = Triangulator(sub)
    start = time.perf_counter()
    for t in ticks:
        tri.tick(t)
    return len(ticks) / (time.perf_counter() - start)


def markdown(result: dict) -> str:
    bones = list(result["methods"]["ours"]["bones"])
    lines = [f"# Multi-camera 3D on ../shared/data/multiview (YOLO11n-pose 2D at {result['imgsz']} px)", "",
             f"CPU: {result['cpu']}; load average at start {result['load']:.1f} (2 cores shared).", "",
             "| method | frames triangulated | median reprojection (px) | median bone CV | " +
             " | ".join(f"{b} m (CV)" for b in bones) + " |",
             "|---" * (4 + len(bones)) + "|"]
    for name, m in result["methods"].items():
        cells = [name, f"{m['frames_triangulated']}/{m['frames']}", f"{m['median_reprojection_px']:.1f}",
                 f"{100 * m['median_bone_cv']:.2f} %"]
        cells += [f"{m['bones'][b]['median_m']:.3f} ({100 * m['bones'][b]['cv']:.1f} %)" for b in bones]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Live triangulator (triangulation only, per tick of matched views): " +
              ", ".join(f"{k} cameras {v:.0f} ticks/s" for k, v in result["live_ticks_per_s"].items()) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--out", default="multiview")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    calib = read_calibration(MULTIVIEW / "calibration" / "Calib.qca.txt")
    recordings = [read_poses(p) for p in poses_2d(args.imgsz)]
    ticks = make_ticks(recordings, calib.names)
    methods = {
        "ours": run(calib, ticks, True),
        "ours, no 3D filter": run(calib, ticks, False),
        "plain weighted DLT": run(calib, ticks, False, reject_px=None, associate_people=False),
    }
    result = {"imgsz": args.imgsz, "cpu": platform.processor() or platform.machine(), "load": load,
              "methods": methods, "live_ticks_per_s": {n: live_rate(calib, recordings, n) for n in (2, 4)}}
    save_results(result, args.out, markdown)


def save_results(result: dict, name: str, render) -> None:
    """`result` with this CPU's model name to benchmarks/results/NAME.json and, as `render(result)`, NAME.md."""
    try:
        result["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    out = ROOT / "benchmarks" / "results"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{name}.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
