"""What helps with 3+ people (issue #33.4), measured side by side in one run:

    python benchmarks/crowds.py                       # exercise.avi (3 people), 30 frames, 2 alternating repeats
    python benchmarks/crowds.py --clip walking.mp4 --frames 20 --repeats 1 --out /tmp/x.md

Variants, each the whole chain (`bench_pipeline`, render off) on the same frames and threads: tp_r_a3 at the
CPU's auto precision (all people's crops in one batched call, as always); the same with `--det-every 5`
(keypoint boxes between detector runs; `--kpt-thr 0` because only untrained pose weights exist here, so
the boxes are kept); and `--model detector` (YOLO11n-pose's own keypoints, no crops). Repeats alternate the
order; the load average before each run is recorded. Writes benchmarks/results/crowds-<cpu kind>.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DETECTOR = SHARED / "weights" / "yolo11n-pose.pt"
VARIANTS = {
    "tp_r_a3, crops batched (default)": dict(model="tp_r_a3", weights="random"),
    "tp_r_a3, --det-every 5 (keypoint boxes)": dict(model="tp_r_a3", weights="random", det_every=5, kpt_thr=0.0),
    "--model detector (YOLO11n-pose keypoints)": dict(model="detector"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="exercise.avi")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from front import cpu_kind, cpu_name  # benchmarks/front.py

    from transpose_live.bench.pipeline_bench import bench_pipeline
    from transpose_live.config import RunConfig

    cfg = RunConfig.for_command("bench", device="cpu", detector_weights=str(DETECTOR), progress=False)
    names = list(VARIANTS)
    rows = []
    for rep in range(args.repeats):
        for name in (names if rep % 2 == 0 else names[::-1]):
            load = os.getloadavg()[0]
            s = bench_pipeline(SHARED / "data" / "clips" / args.clip, cfg.replace(**VARIANTS[name]),
                               max_frames=args.frames, render=False, progress=False)
            rows.append(dict(variant=name, repeat=rep, fps=s["fps"], persons_per_frame=round(s["persons"] / s["frames"], 2),
                             detector_runs=s["detector_runs"], ran=f"{s['model']} {s['precision']} on {s['backend']}",
                             pose_ms_per_frame=s["stages"]["pose"]["ms_per_frame"],
                             detect_ms_per_frame=s["stages"]["detect"]["ms_per_frame"], load=round(load, 1)))
            print(rows[-1], flush=True)
    kind = cpu_kind()
    out = args.out or ROOT / "benchmarks" / "results" / f"crowds-{kind}.md"
    lines = [f"# Crowds: {args.clip}, {cpu_name()} ({kind}), {datetime.date.today().isoformat()}", "",
             f"`python benchmarks/crowds.py` ({args.frames} frames per run, repeats alternate the order; the load "
             "average before each run is in the last column: 2 cores shared, fps are lower bounds, compare "
             "variants within a repeat).", "",
             "| variant | ran | repeat | fps | people/frame | detector runs | detect ms/frame | pose ms/frame | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['ran']} | {r['repeat']} | {r['fps']:.2f} | {r['persons_per_frame']} | "
              f"{r['detector_runs']} | {r['detect_ms_per_frame']:.0f} | {r['pose_ms_per_frame']:.0f} | {r['load']} |"
              for r in rows]
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
