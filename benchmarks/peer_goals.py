"""The CPU speed goals against the nano peer (issue #33), one command:

    python benchmarks/peer_goals.py                    # squat (1 person) + exercise (3), 60 frames, 3 repeats
    python benchmarks/peer_goals.py --frames 20 --repeats 1 --out /tmp/x   # quick look

Per clip and repeat, in alternating order (forward, then backward, so drifting load hits each alike), the
whole chain (`bench --pipeline`'s `bench_pipeline`: read -> detect -> pose -> track, no rendering, every
frame detected: no frame skipping) in these configurations, and the peer (ultralytics YOLO11n-pose,
`YOLO(w)(frame)`, PyTorch, its defaults) on the same frames with the same 2-thread budget:

- `before`: `--precision auto` (bf16 on CPUs with it) as it ran before issue #33's last changes:
  OpenVINO's dynamic-shape models only (`OpenVINORunner.STATIC_SHAPES = 0`) and torch on every core for
  the crops and decoding (`runtime.threads.glue_only_torch` not applied);
- `auto`: the default now: each input shape compiled statically (`backends.runners.OpenVINORunner`),
  one torch thread for the glue when no model runs on torch;
- `int8` (CPUs with VNNI/AMX only, where INT8 pays): the pose model exported INT8 by
  `export --precision int8 --calibration` (calibrated on dance.mp4, not on the measured clips).

Pose weights are random (speed does not depend on them); the detector is YOLO11n-pose on OpenVINO at
640 px (its boxes, the same network the peer runs). Writes benchmarks/results/peer-goals-<cpu kind>.{json,md}
with the load average before and after each run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from front import CLIPS, RESULTS, SHARED, cpu_kind, cpu_name  # noqa: E402

PEER = SHARED / "weights" / "yolo11n-pose.pt"
GOALS = {1: 1.3, 3: 0.8}  # people -> least ratio to the peer (issue #33, AVX-512 CPUs)


def int8_export(folder: Path) -> Path:
    """tp_r_a3 (random weights) exported to OpenVINO INT8, calibrated on dance.mp4's people."""
    from transpose_live.backends import export_model
    from transpose_live.pipeline.calibration import calibration_crops

    calib = calibration_crops(SHARED / "data" / "clips" / "dance.mp4", (256, 192), str(PEER), max_frames=24)
    return export_model("tp_r_a3", weights=None, fmt="openvino", out=folder / "tp_r_a3_int8", precision="int8",
                        calibration=calib)


def run_one(clip: Path, name: str, setup: dict, frames: int) -> dict:
    from transpose_live.backends.runners import OpenVINORunner
    from transpose_live.bench.pipeline_bench import bench_peer, bench_pipeline
    from transpose_live.config import RunConfig

    load = os.getloadavg()[0]
    if name == "peer":
        got = bench_peer(clip, str(PEER), max_frames=frames, threads=2)
        return dict(config=name, fps=got["fps"], load=[round(load, 2), round(os.getloadavg()[0], 2)])
    import transpose_live.runtime.threads as threads

    glue = threads.glue_only_torch
    OpenVINORunner.STATIC_SHAPES = 0 if setup.get("before") else 8
    if setup.get("before"):
        threads.glue_only_torch = threads.active_budget
    try:
        cfg = RunConfig.for_command("bench").replace(
            model="tp_r_a3", weights=setup.get("weights"), precision=setup.get("precision", "auto"),
            detector_weights=str(PEER), flip_test=False, threads=2)
        got = bench_pipeline(clip, cfg, max_frames=frames, render=False, progress=False)
    finally:
        OpenVINORunner.STATIC_SHAPES, threads.glue_only_torch = 8, glue
    stages = {k: v["ms_per_frame"] for k, v in got["stages"].items() if v["ms_per_frame"]}
    return dict(config=name, fps=got["fps"], precision=got["precision"], persons=got["persons"], stages=stages,
                threads=got.get("threads"),
                load=[round(load, 2), round(os.getloadavg()[0], 2)])


def summary(records: list[dict]) -> dict:
    """clip -> config -> median fps and median ratio to the peer of the same repeat."""
    out: dict = {}
    for clip in sorted({r["clip"] for r in records}):
        rows = [r for r in records if r["clip"] == clip]
        peer = {k: statistics.mean(r["fps"] for r in rows if r["config"] == "peer" and r["repeat"] == k)
                for k in {r["repeat"] for r in rows if r["config"] == "peer"}}  # the mean of its two runs
        per = {}
        for config in dict.fromkeys(r["config"] for r in rows):
            runs = [r for r in rows if r["config"] == config]
            if config == "peer":  # one row per repeat: its mean
                runs = [dict(fps=round(peer[k], 2), repeat=k) for k in sorted(peer)]
            ratios = [r["fps"] / peer[r["repeat"]] for r in runs if peer.get(r["repeat"])]
            per[config] = dict(fps=[r["fps"] for r in runs], median_fps=round(statistics.median(r["fps"] for r in runs), 2),
                               ratios=[round(x, 3) for x in ratios],
                               median_ratio=round(statistics.median(ratios), 3) if ratios else None)
        out[clip] = per
    return out


def markdown(payload: dict) -> str:
    lines = [f"# CPU speed goals against YOLO11n-pose ({payload['cpu_kind']})", "",
             f"`{payload['command']}` on {payload['cpu']} ({payload['cpu_kind']}), 2 threads each side, "
             f"{payload['frames']} frames per run, {payload['repeats']} repeats in alternating order, "
             f"{payload['created']}. Ratio = our fps / the peer's mean fps in the same repeat (the peer runs "
             "first and last in each). Load average "
             "(1 min) before/after each run is in the JSON; runs under load are lower bounds.", "",
             "| clip (people) | configuration | fps (each repeat) | ratio to the peer (each) | median ratio | goal |",
             "|---|---|---|---|---|---|"]
    for clip, per in payload["summary"].items():
        people = CLIPS.get(clip, "?")
        for config, s in per.items():
            goal = "" if config == "peer" else f">= {GOALS.get(people, '?')}x: " + (
                "met" if s["median_ratio"] and s["median_ratio"] >= GOALS.get(people, 99) else "not met")
            lines.append(f"| {clip} ({people}) | {config} | {', '.join(f'{f:.1f}' for f in s['fps'])} | "
                         f"{', '.join(f'{r:.2f}x' for r in s['ratios'])} | "
                         f"{s['median_ratio'] if s['median_ratio'] is not None else '-'} | {goal} |")
    loads = [x for r in payload["runs"] for x in r["load"]]
    lines += ["", f"Load average over the runs: {min(loads):.2f}-{max(loads):.2f}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from transpose_live.backends.quantize import int8_pays

    with tempfile.TemporaryDirectory(prefix="tl-goals-") as tmp:
        configs = {"before": dict(before=True), "auto": {}}
        if int8_pays():
            configs["int8"] = dict(weights=str(int8_export(Path(tmp))), precision="int8")
        records: list[dict] = []
        payload = dict(command="python benchmarks/peer_goals.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                       cpu=cpu_name(), cpu_kind=cpu_kind(), frames=args.frames, repeats=args.repeats,
                       created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), runs=records)
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"peer-goals-{payload['cpu_kind']}"
        ours = [name for name in configs if name != "peer"]
        for repeat in range(args.repeats):
            for clip in args.clips.split(","):
                # the peer brackets our runs (first and last) so that its fps is of the same minutes
                order = ["peer"] + (ours if repeat % 2 == 0 else ours[::-1]) + ["peer"]
                for name in order:
                    record = run_one(SHARED / "data" / "clips" / clip, name, configs.get(name, {}), args.frames)
                    records.append(dict(record, clip=clip, repeat=repeat))
                    print(f"{clip} repeat {repeat} {name:14s} {record['fps']:6.1f} fps  load {record['load']}", flush=True)
                    payload["summary"] = summary(records)
                    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1))
        stem.with_suffix(".md").write_text(markdown(payload))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
