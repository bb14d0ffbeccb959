"""The speed-accuracy front on this machine, for 1 and 3 people (issue #33), one command:

    python benchmarks/front.py                                   # both clips, every model, 40 frames, 2 repeats
    python benchmarks/front.py --frames 10 --repeats 1 --models tp_r_a3,yolo11n-pose --out /tmp/x   # quick look

For squat.mp4 (1 person) and exercise.avi (3 people) from ../shared/data/clips it runs `bench --front`'s
`FrontBench` (transpose_live/bench/front.py: the whole chain per model, ours with random weights at each
precision this CPU runs, the YOLO11/YOLO26-pose models through `--model detector`, trained weights where
present, else built from ultralytics' yaml for timing only). Repeats alternate the order (forward, then
backward) so drifting load hits every model alike; the table keeps each run, the plot the best fps. The
load average before and after each run is recorded: numbers under load are lower bounds, ratios
measured in one run hold better. Writes benchmarks/results/front-<cpu kind>.{json,md} and
front-<cpu kind>-<clip>.png (cpu kind: avx512-bf16 or avx2, from `backends.precision.cpu_precision`).

    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/front.py --frames 20 --repeats 1   # an AVX2-only CPU, emulated

With $ONEDNN_MAX_CPU_ISA=AVX2 set, oneDNN (torch and OpenVINO) uses only AVX2, no VNNI, no bf16: an
AVX2-only CPU emulated on this one (`auto` runs fp32); the files are then named front-avx2-cap.*.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results"
CLIPS = {"squat.mp4": 1, "exercise.avi": 3}  # clip -> people in it


def cpu_kind() -> str:
    """avx512-bf16, avx512 or avx2; `<isa>-cap` (e.g. avx2-cap) under an $ONEDNN_MAX_CPU_ISA cap below
    bf16, which emulates a CPU with only that instruction set (`backends.precision.isa_cap`)."""
    from transpose_live.backends.precision import capped_below_bf16, cpu_precision, cpuinfo_flags, isa_cap

    if capped_below_bf16():
        return f"{isa_cap().lower()}-cap"
    if cpu_precision().bf16_features:
        return "avx512-bf16"
    return "avx512" if "avx512f" in cpuinfo_flags() else "avx2"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run_clip(clip: Path, cfg, points, frames: int, repeats: int, records: list, save) -> list[dict]:
    """Appends each run's record to `records` and calls `save()` after it (partial results survive)."""
    from transpose_live.bench.front import FrontBench

    with FrontBench(clip, cfg, frames, render=False) as bench:
        for rep in range(repeats):
            for point in (points if rep % 2 == 0 else points[::-1]):
                before = os.getloadavg()[0]
                record = bench.run(point)
                record.update(repeat=rep, load_before=round(before, 2), load_after=round(os.getloadavg()[0], 2))
                print(f"{clip.name} {point.model} {point.precision}: {record['fps']:.2f} fps "
                      f"(load {before:.1f})", flush=True)
                records.append(record)
                save()
    return records


def best(records: list[dict]) -> list[dict]:
    """The best run of each model x family (the least disturbed by other load)."""
    top: dict = {}
    for r in records:
        key = (r["family"], r["model"])
        if key not in top or r["fps"] > top[key]["fps"]:
            top[key] = r
    return list(top.values())


def markdown(payload: dict) -> str:
    lines = [f"# Speed-accuracy front: {payload['cpu_name']} ({payload['cpu_kind']}), {payload['date']}", "",
             f"`{payload.get('env', '')}python benchmarks/front.py {' '.join(payload['argv'])}`: {payload['frames']} frames per run, "
             f"{payload['threads']['torch']} threads, render off, repeats {payload['repeats']} (alternating order). "
             f"Load average (1 min) before each run in the last column (above {payload['threads']['cores']} other "
             "jobs shared the cores, and fps are lower bounds); compare rows measured side by side. AP: published COCO val2017 keypoint AP (ours: "
             "the TransPose paper, top-down with its 56-AP person detector; YOLO: Ultralytics' docs at 640 px).", ""]
    for clip, records in payload["clips"].items():
        lines += [f"## {clip} ({_people(CLIPS.get(clip))})", "",
                  "| family | model | ran | weights | AP | fps | people/frame | detect ms/frame | pose ms/frame | load |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(records, key=lambda r: (r["family"], r["model"], r["repeat"])):
            lines.append(f"| {r['family']} | {r['model']} | {r['precision']} on {r['backend']} | {r['weights']} | "
                         f"{r['ap']} | {r['fps']:.2f} | {r['persons_per_frame']} | {r['detect_ms']:.0f} | "
                         f"{r['pose_ms']:.0f} | {r['load_before']} |")
        lines.append("")
    return "\n".join(lines)


def _people(n) -> str:
    return "? people" if n is None else f"{n} person" if n == 1 else f"{n} people"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default=None, help="comma-separated (default: all of bench.front.FRONT_MODELS)")
    parser.add_argument("--precision", default="auto", help="auto: every precision this CPU runs")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replot", action="store_true", help="rewrite the markdown and plots from the JSON only")
    args = parser.parse_args(argv)
    from transpose_live.bench.front import front_plot, front_runs, parse_front_models
    from transpose_live.config import RunConfig
    from transpose_live.runtime import apply_budget

    weights = SHARED / "weights" / "yolo11n-pose.pt"
    cfg = RunConfig.for_command("bench", device="cpu", detector_weights=str(weights), progress=False)
    points = front_runs(parse_front_models(args.models), args.precision)
    kind = cpu_kind()
    payload = dict(cpu_name=cpu_name(), cpu_kind=kind, date=datetime.date.today().isoformat(), frames=args.frames,
                   repeats=args.repeats, threads=apply_budget(None).as_dict(), argv=list(sys.argv[1:] if argv is None else argv), clips={},
                   env=f"ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']} " if os.environ.get("ONEDNN_MAX_CPU_ISA") else "")
    if args.replot:  # the markdown and plots again from the JSON of a finished run
        payload = json.loads((args.out / f"front-{kind}.json").read_text())
        (args.out / f"front-{kind}.md").write_text(markdown(payload))
        for name, records in payload["clips"].items():
            front_plot(best(records), args.out / f"front-{kind}-{Path(name).stem}.png",
                       f"{name} ({_people(CLIPS.get(name))}), {payload['cpu_name']}, {payload['date']}, best of "
                       f"{payload['repeats']} (load in front-{kind}.md)")
        return 0

    def save() -> None:
        (args.out / f"front-{kind}.json").write_text(json.dumps(payload, indent=1) + "\n")
        (args.out / f"front-{kind}.md").write_text(markdown(payload))

    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.clips.split(","):
        records = payload["clips"].setdefault(name, [])
        run_clip(SHARED / "data" / "clips" / name, cfg, points, args.frames, args.repeats, records, save)
        front_plot(best(records), args.out / f"front-{kind}-{Path(name).stem}.png",
                   f"{name} ({_people(CLIPS.get(name))}), {payload['cpu_name']}, {payload['date']}, best of "
                   f"{args.repeats} (load in front-{kind}.md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
