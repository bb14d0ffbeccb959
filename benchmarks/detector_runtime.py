"""The exported person detector on our runtime (`pipeline.yolo_runtime.ExportedYolo`: our letterbox, runner,
NMS) against ultralytics' predictor on the same export with the same threads and precision (the path
`PersonDetector` took before issue #29: `YoloModel` + the runtime re-opened inside ultralytics):

    python benchmarks/detector_runtime.py        # writes benchmarks/results/detector-runtime.{json,md}

Frames from three shared clips (1 to 3 people, 3 frame sizes); both variants per runtime (onnxruntime,
OpenVINO) in one process, interleaved in alternating order, median ms per frame over the repetitions; boxes compared (same
count per frame, worst IoU of matched boxes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

import transpose_live  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"
CLIPS = ("squat.mp4", "exercise.avi", "dance.mp4")


def frames_of(count: int) -> list[np.ndarray]:
    out = []
    for clip in CLIPS:
        cap = cv2.VideoCapture(str(SHARED / "data" / "clips" / clip))
        for _ in range(count):
            ok, frame = cap.read()
            if ok:
                out.append(frame)
            for _ in range(5):
                cap.read()
        cap.release()
    return out


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=4, help="frames per clip")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "detector-runtime"))
    args = ap.parse_args()
    from transpose_live.backends.precision import cpu_precision, detector_precision
    from transpose_live.pipeline.detector_backend import DYNAMIC_EXPORT
    from transpose_live.pipeline.detector_export import exported_detector
    from transpose_live.pipeline.yolo import YoloModel
    from transpose_live.pipeline.yolo_runtime import ExportedYolo

    weights = SHARED / "weights" / "yolo11n-pose.pt"
    frames = frames_of(args.frames)
    precision = detector_precision("auto")
    rows = []
    for fmt in ("onnx", "openvino"):
        path = exported_detector(weights, fmt, args.imgsz, dynamic=DYNAMIC_EXPORT)
        ours = ExportedYolo(path, args.threads, precision)
        theirs = YoloModel(path, threads=args.threads, precision=precision)

        def run_ours(f):
            return ours.predict(f, conf=0.25, iou=0.7, max_det=100, classes=[0], imgsz=args.imgsz).boxes

        def run_theirs(f):
            r = theirs.predict(f, classes=[0], conf=0.25, iou=0.7, max_det=100, imgsz=args.imgsz, device="cpu")
            return r.boxes.xyxy.numpy()

        for f in frames[:2]:
            run_ours(f), run_theirs(f)  # warm-up
        times = {"ours": [], "ultralytics": []}
        variants = [("ours", run_ours), ("ultralytics", run_theirs)]
        for rep in range(args.reps):  # the order alternates: the first variant of a repetition runs slower here
            for name, fn in (variants if rep % 2 == 0 else variants[::-1]):
                t0 = time.perf_counter()
                for f in frames:
                    fn(f)
                times[name].append((time.perf_counter() - t0) * 1000 / len(frames))
        mismatched, worst = 0, 1.0
        for f in frames:
            a, b = run_ours(f), run_theirs(f)
            mismatched += len(a) != len(b)
            for box in b:
                worst = min(worst, max([iou(box, o) for o in a] or [0.0]))
        ms = {k: round(statistics.median(v), 2) for k, v in times.items()}
        rows.append(dict(runtime=fmt, precision=ours.precision, ms_ours=ms["ours"], ms_ultralytics=ms["ultralytics"],
                         ratio=round(ms["ours"] / ms["ultralytics"], 3), frames=len(frames),
                         count_mismatches=mismatched, worst_iou=round(float(worst), 4)))
        print(rows[-1], flush=True)
    env = dict(date=datetime.now(timezone.utc).isoformat(timespec="seconds"), cpu=cpu_precision().describe(),
               load=os.getloadavg(), threads=args.threads, imgsz=args.imgsz, reps=args.reps)
    Path(args.out + ".json").write_text(json.dumps(dict(environment=env, rows=rows), indent=1) + "\n")
    lines = [f"# Exported detector: our runtime vs ultralytics' predictor ({env['date']})", "",
             f"{env['cpu']}; load average {tuple(round(x, 1) for x in env['load'])} (2 cores shared); "
             f"{args.threads} threads, imgsz {args.imgsz}, {len(frames)} frames of {', '.join(CLIPS)}, "
             f"median of {args.reps} interleaved repetitions (order alternating).", "",
             "| runtime | precision | ours ms/frame | ultralytics ms/frame | ratio | count mismatches | worst IoU |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['runtime']} | {r['precision']} | {r['ms_ours']} | {r['ms_ultralytics']} | {r['ratio']} | "
              f"{r['count_mismatches']} | {r['worst_iou']} |" for r in rows]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
