"""The CPU pipeline against the peer (ultralytics YOLO11n-pose), one command:

    python benchmarks/pipeline_cpu.py                   # writes benchmarks/results/pipeline-cpu.{json,md,png}
    python benchmarks/pipeline_cpu.py --frames 20 --clips squat.mp4 --no-load --out /tmp/x   # quick look
    python benchmarks/pipeline_cpu.py --no-load --no-render --precision auto   # issue #22's goals (~6 min)

For squat.mp4 (1 person), exercise.avi (3) and walking.mp4 (~6) from ../shared/data/clips it runs
transpose-live (read -> detect -> pose -> smooth [-> render -> mp4 encode]) and the peer
(`YOLO(w)(frame)` per frame [-> Results.plot() -> mp4 encode]) on the same frames with the same thread
budget, quiet and under load (two busy Python processes this script starts and stops), plus
`--det-every 5 --kpt-thr 0` (keypoint boxes; only untrained pose weights exist here, so the keypoint
threshold is 0 for the boxes to be used) and the pose stage inside the pipeline against the estimator
alone on the same frames and boxes. Pose weights are random (speed does not depend on them).
`--precision` (default auto: bf16 on CPUs that have it) sets the pose model's and the OpenVINO
detector's precision; the detector alone is also timed in fp32 and in that precision on the same frames,
with the people it finds.
About 8-11 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results"
CLIPS = ("squat.mp4", "exercise.avi", "walking.mp4")
BUSY = "while True: pass"


@contextmanager
def busy_processes(n: int):
    """n CPU-bound processes for the duration of the block (stopped by their pid afterwards)."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def pose_alone_ms(clip: Path, estimator, detector, frames: int) -> float:
    """Mean ms of `estimator.estimate` on the clip's first frames with the detector's boxes, nothing else running."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    items = []
    while len(items) < frames:
        ok, img = cap.read()
        if not ok:
            break
        boxes, scores = detector(img)
        items.append((img, boxes, scores))
    cap.release()
    estimator.estimate(*items[0])
    t0 = time.perf_counter()
    for img, boxes, scores in items:
        estimator.estimate(img, boxes, box_scores=scores)
    return 1000 * (time.perf_counter() - t0) / max(len(items), 1)


def detector_alone(clip: Path, detector, frames: int) -> dict:
    """ms per frame and people found by `detector` alone on the clip's first frames."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    images = [img for ok, img in (cap.read() for _ in range(frames)) if ok]
    cap.release()
    detector(images[0])
    t0 = time.perf_counter()
    people = sum(len(detector(img)[0]) for img in images)
    return dict(ms=round(1000 * (time.perf_counter() - t0) / max(len(images), 1), 2), people=people,
                frames=len(images))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--frames", type=int, default=40, help="frames per run")
    parser.add_argument("--model", default="tp_r_a3")
    parser.add_argument("--weights", default=None, help="pose weights (default random; e.g. an INT8 export folder)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="thread budget (default: all cores)")
    parser.add_argument("--detector-imgsz", type=int, default=640,
                        help="our detector's input size (default 640: the peer's own, so both sides see the same pixels)")
    parser.add_argument("--detector-backend", default="auto", help="auto follows the pose backend (exported on the CPU)")
    parser.add_argument("--peer", type=Path, default=SHARED / "weights" / "yolo11n-pose.pt")
    parser.add_argument("--no-load", action="store_true", help="skip the runs under load")
    parser.add_argument("--no-render", action="store_true", help="skip the runs with rendering and encoding")
    parser.add_argument("--precision", default="auto", help="pose (and OpenVINO detector) precision")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from rich.console import Console

    from transpose_live.bench.model_bench import environment
    from transpose_live.bench.pipeline_bench import PeerModel, bench_peer, bench_pipeline
    from transpose_live.device import resolve_device
    from transpose_live.engine import PoseEstimator
    from transpose_live.pipeline import build_detector
    from transpose_live.backends.precision import detector_hint
    from transpose_live.runtime import apply_budget

    console = Console(stderr=True)
    budget = apply_budget(args.threads)
    started = time.perf_counter()
    estimator = PoseEstimator(args.model, weights=args.weights, device="cpu", flip_test=False, backend=args.backend,
                              precision=args.precision)

    def make_detector(precision):
        return build_detector("yolo", weights=str(args.peer), device="cpu", imgsz=args.detector_imgsz,
                              backend=args.detector_backend, pose_backend=estimator.backend, precision=precision)
    detector = make_detector(args.precision)
    detector_fp32 = make_detector("fp32") if detector.backend == "openvino" else None
    detectors = {}
    detector_precision = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}[detector_hint(args.precision)]
    peer = PeerModel(args.peer)
    records, alone = [], {}
    loads = [("quiet", 0)] + ([] if args.no_load else [("load", 2)])
    for name in args.clips.split(","):
        clip = SHARED / "data" / "clips" / name
        for condition, n_busy in loads:
            with busy_processes(n_busy):
                for render in (False,) if args.no_render else (False, True):
                    ours = bench_pipeline(clip, estimator=estimator, det=detector, max_frames=args.frames,
                                          progress=False, threads=budget.cores, render=render)
                    theirs = bench_peer(clip, peer, max_frames=args.frames, render=render, threads=budget.cores)
                    records.append(dict(clip=name, condition=condition, render=render, det_every=1,
                                        ours=ours, peer=theirs, ratio=round(ours["fps"] / theirs["fps"], 3),
                                        load_avg=round(os.getloadavg()[0], 2)))
                    console.print(f"{name:14s} {condition:5s} render={render!s:5s} ours {ours['fps']:5.1f} fps  "
                                  f"peer {theirs['fps']:5.1f} fps  ratio {records[-1]['ratio']:.2f}x")
                    if condition == "quiet" and not render:  # right after, so that both see the same load
                        alone[name] = round(pose_alone_ms(clip, estimator, detector, min(args.frames, 20)), 2)
                        if detector_fp32 is not None:
                            detectors[name] = {"fp32": detector_alone(clip, detector_fp32, args.frames),
                                               detector_precision: detector_alone(clip, detector, args.frames),
                                               "load_avg": round(os.getloadavg()[0], 2)}
        ours = bench_pipeline(clip, estimator=estimator, det=detector, max_frames=args.frames, progress=False,
                              threads=budget.cores, render=False, det_every=5, kpt_thr=0.0)
        records.append(dict(clip=name, condition="quiet", render=False, det_every=5, ours=ours, peer=None,
                            ratio=None, load_avg=round(os.getloadavg()[0], 2)))
        console.print(f"{name:14s} quiet det-every 5 (kpt-thr 0): ours {ours['fps']:5.1f} fps, "
                      f"detector on {ours['detector_runs']}/{ours['frames']} frames")
    env = environment(resolve_device("cpu"))
    env.update(budget=budget.as_dict(), backend=estimator.backend, precision=estimator.precision, model=args.model, frames_per_run=args.frames,
               detector_imgsz=args.detector_imgsz, detector_backend=detector.backend, peer=args.peer.name, total_s=round(time.perf_counter() - started, 1))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = dict(schema_version=1, environment=env, runs=records, pose_alone_ms=alone, detector_alone=detectors)
    (args.out / "pipeline-cpu.json").write_text(json.dumps(payload, indent=1) + "\n")
    (args.out / "pipeline-cpu.md").write_text(markdown(payload))
    chart(payload, args.out / "pipeline-cpu.png")
    console.print(f"wrote {args.out}/pipeline-cpu.{{json,md,png}} in {env['total_s']:.0f} s")
    return 0


def _find(records, clip, condition="quiet", render=False, det_every=1):
    return next((r for r in records if r["clip"] == clip and r["condition"] == condition
                 and r["render"] == render and r["det_every"] == det_every), None)


def goals(payload) -> list[str]:
    runs = payload["runs"]
    lines = []

    def check(text, value, target):
        if value is None:
            lines.append(f"- {text}: not measured")
        else:
            lines.append(f"- {text}: **{value:.2f}** (goal >= {target}) {'met' if value >= target else 'NOT met'}")

    quiet = {clip: _find(runs, clip) for clip in CLIPS}
    for clip, people, target in (("squat.mp4", 1, 1.3), ("exercise.avi", 3, 0.8), ("walking.mp4", 5, 0.4)):
        r = quiet.get(clip)
        check(f"{clip} ({people} {'person' if people == 1 else 'people'}), no frame skipping, ratio to the peer",
              r and r["ratio"], target)
    r, q = _find(runs, "squat.mp4", det_every=5), quiet.get("squat.mp4")
    check("squat.mp4 (1 person) with --det-every 5, ratio to the peer (which detects every frame)",
          r and q and r["ours"]["fps"] / q["peer"]["fps"], 1.8)
    for clip in CLIPS:
        q, loaded = _find(runs, clip), _find(runs, clip, "load")
        if q and loaded:
            check(f"{clip} under two busy processes, share of its quiet fps", loaded["ours"]["fps"] / q["ours"]["fps"], 0.7)
    for clip, ms in payload["pose_alone_ms"].items():
        r = _find(runs, clip)
        if r and r["ours"]["stages"]["pose"]["ms_per_call"]:
            lines.append(f"- {clip}: pose stage in the pipeline {r['ours']['stages']['pose']['ms_per_call']:.1f} ms "
                         f"vs the estimator alone {ms:.1f} ms on the same frames: "
                         f"**{r['ours']['stages']['pose']['ms_per_call'] / ms:.2f}x** (goal <= 1.15)")
    return lines


def markdown(payload) -> str:
    env = payload["environment"]
    out = [f"# Pipeline on the CPU vs {env['peer']}", "",
           f"{env['device_name']}, {env['budget']['cores']} threads, {env['model']} on {env['backend']} "
           f"({env.get('precision', 'fp32')}, no flip "
           f"test, random weights), detector {env['peer']} at imgsz {env['detector_imgsz']} on "
           f"{env.get('detector_backend', 'torch')}; {env['frames_per_run']} "
           f"frames per run; peer `YOLO(w)(frame)` with its defaults (imgsz 640) on the same frames and threads. "
           f"Created {env['created']}, {env['total_s']:.0f} s in all.", "",
           "`load` is the 1-minute load average at the end of the run (2 busy processes add 2; anything above "
           "that came from other jobs on the machine).", "",
           "| clip | condition | render + encode | det-every | transpose-live fps | persons/frame | detector runs | peer fps | ratio | load |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["runs"]:
        o, p = r["ours"], r["peer"]
        out.append(f"| {r['clip']} | {r['condition']} | {'yes' if r['render'] else 'no'} | {r['det_every']} | "
                   f"{o['fps']:.1f} | {o['persons'] / max(o['frames'], 1):.1f} | {o['detector_runs']}/{o['frames']} | "
                   f"{'-' if p is None else format(p['fps'], '.1f')} | "
                   f"{'-' if r['ratio'] is None else format(r['ratio'], '.2f') + 'x'} | {r.get('load_avg', '-')} |")
    out += ["", "Per stage (ms per frame, quiet, no rendering):", "",
            "| clip | read | detect | pose | smooth |", "|---|---|---|---|---|"]
    for clip in payload["pose_alone_ms"]:
        r = _find(payload["runs"], clip)
        if r:
            s = r["ours"]["stages"]
            out.append(f"| {clip} | " + " | ".join(f"{s[k]['ms_per_frame']:.1f}" for k in ("read", "detect", "pose", "smooth")) + " |")
    if payload.get("detector_alone"):
        out += ["", "Detector alone on the same frames (ms per frame, people found), fp32 against the run's precision:", "",
                "| clip | precision | ms per frame | people found | frames | load |", "|---|---|---|---|---|---|"]
        for clip, row in payload["detector_alone"].items():
            out += [f"| {clip} | {k} | {v['ms']:.1f} | {v['people']} | {v['frames']} | {row['load_avg']} |"
                    for k, v in row.items() if k != "load_avg"]
    out += ["", "## Goals", "", *goals(payload), "",
            "`--det-every 5` rows use `--kpt-thr 0` so that keypoint boxes are used with untrained weights.", ""]
    return "\n".join(out)


def chart(payload, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in payload["runs"] if r["peer"] is not None]
    labels = [f"{r['clip'].split('.')[0]}\n{r['condition']}{' +render' if r['render'] else ''}" for r in runs]
    x = np.arange(len(runs))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(runs)), 4))
    ax.bar(x - 0.2, [r["ours"]["fps"] for r in runs], 0.4, label=f"transpose-live ({payload['environment']['model']})")
    ax.bar(x + 0.2, [r["peer"]["fps"] for r in runs], 0.4, label=payload["environment"]["peer"])
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("frames / s")
    ax.set_title(f"CPU pipeline, {payload['environment']['budget']['cores']} threads")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
