"""ms per frame of the YOLO person detector on each CPU runtime, and whether the boxes agree, one command:

    python benchmarks/detector_cpu.py            # writes benchmarks/results/detector-cpu.{json,md}
    python benchmarks/detector_cpu.py --reps 3 --frames 4 --sizes 480

The detector is `transpose_live.pipeline.PersonDetector` as the pipeline calls it (letterbox, model,
NMS, person class only), on real frames of squat.mp4 (1 person) and exercise.avi (3 people). Variants
per input size: torch (the `.pt`), ultralytics' ONNX export on onnxruntime and its OpenVINO export
(fixed square input, as `--detector-backend` uses them), the same two exported with `dynamic=True`
(rectangular letterbox like torch), and the OpenVINO INT8 YOLO11n folder from ../shared/weights
(640, as shipped) for reference. All variants live in one process under one thread budget; runs are
interleaved (every variant goes through all frames once per repetition) and the median over the
repetitions is reported, so changing load on a shared machine hits every variant alike. Boxes are
compared with torch's at the same size: same count per frame, and the IoU of matched boxes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"
CLIPS = ("squat.mp4", "exercise.avi")


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over the clip (BGR uint8)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or count
    wanted = {int(i) for i in np.linspace(0, max(total - 1, 0), count)}
    frames, index = [], 0
    while len(frames) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            frames.append(frame)
        index += 1
    cap.release()
    return frames


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def agreement(reference: list, boxes: list) -> dict:
    """Frames with the same box count, and the IoUs of greedily matched boxes (vs the reference)."""
    same, ious = 0, []
    for (ref, _), (got, _) in zip(reference, boxes):
        same += len(ref) == len(got)
        m = iou_matrix(ref, got)
        while m.size and m.max() > 0:
            i, j = np.unravel_index(np.argmax(m), m.shape)
            ious.append(float(m[i, j]))
            m[i, :] = 0
            m[:, j] = 0
    return dict(same_count=f"{same}/{len(reference)}", iou_min=round(min(ious), 4) if ious else None,
                iou_mean=round(float(np.mean(ious)), 4) if ious else None)


def build_variants(weights: Path, size: int, cache: Path, with_int8: bool) -> dict:
    from transpose_live.backends.choose import installed
    from transpose_live.pipeline import PersonDetector
    from transpose_live.pipeline.detector_export import exported_detector

    out = {"torch": PersonDetector(weights, backend="torch", imgsz=size)}
    for fmt, backend in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        if not installed(backend):
            continue
        for dynamic in (False, True):
            path = exported_detector(weights, fmt, size, cache=cache, dynamic=dynamic)
            out[backend + ("-dynamic" if dynamic else "")] = PersonDetector(path, backend=backend, imgsz=size)
    int8 = SHARED / "weights" / "yolo11n_int8_openvino_model"
    if with_int8 and installed("openvino") and int8.is_dir():
        out["openvino-int8-yolo11n-640"] = PersonDetector(int8, backend="openvino", imgsz=size)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(SHARED / "weights" / "yolo11n-pose.pt"))
    parser.add_argument("--sizes", default="480,640")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="thread budget (default: every core)")
    parser.add_argument("--pipeline-frames", type=int, default=60,
                        help="also time the whole chain (tp_r_a3 on onnxruntime) per detector backend on squat.mp4; 0: skip")
    parser.add_argument("--out", default=str(RESULTS / "detector-cpu"))
    args = parser.parse_args(argv)

    import torch

    from transpose_live.bench.model_bench import device_name
    from transpose_live.runtime import apply_budget

    budget = apply_budget(args.threads)
    frames = {clip: read_frames(SHARED / "data" / "clips" / clip, args.frames) for clip in CLIPS}
    rows = []
    with tempfile.TemporaryDirectory(prefix="tl-detbench-") as cache:
        for size in (int(s) for s in args.sizes.split(",")):
            t0 = time.perf_counter()
            variants = build_variants(Path(args.weights), size, Path(cache), with_int8=size == 640)
            print(f"imgsz {size}: built {', '.join(variants)} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            for det in variants.values():  # warm-up, untimed
                for clip_frames in frames.values():
                    det(clip_frames[0])
            times = {(name, clip): [] for name in variants for clip in CLIPS}
            boxes = {}
            loads = []
            for rep in range(args.reps):
                for clip, clip_frames in frames.items():
                    for name, det in variants.items():
                        t = time.perf_counter()
                        got = [det(f) for f in clip_frames]
                        times[(name, clip)].append(1000 * (time.perf_counter() - t) / len(clip_frames))
                        boxes[(name, clip)] = got
                loads.append(os.getloadavg()[0])
                print(f"  rep {rep + 1}/{args.reps} done", file=sys.stderr)
            for clip in CLIPS:
                reference = boxes[("torch", clip)]
                torch_ms = statistics.median(times[("torch", clip)])
                for name in variants:
                    ms = statistics.median(times[(name, clip)])
                    rows.append(dict(imgsz=size, clip=clip, variant=name, input_size=variants[name].imgsz,
                                     ms_median=round(ms, 2), ms_all=[round(x, 2) for x in times[(name, clip)]],
                                     vs_torch=round(ms / torch_ms, 3),
                                     boxes_per_frame=round(float(np.mean([len(b) for b, _ in boxes[(name, clip)]])), 2),
                                     **agreement(reference, boxes[(name, clip)]),
                                     load_1min=round(statistics.median(loads), 2)))
    pipeline = pipeline_rows(args.pipeline_frames, args.reps, args.threads) if args.pipeline_frames else []
    env = dict(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), cpu=device_name(torch.device("cpu")),
               cores=os.cpu_count(), threads=budget.as_dict(), torch=torch.__version__, versions=_versions(),
               frames_per_clip=args.frames, reps=args.reps, weights=Path(args.weights).name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write(out.with_suffix(".json"), json.dumps(dict(environment=env, rows=rows, pipeline=pipeline), indent=1))
    _write(out.with_suffix(".md"), markdown(env, rows, pipeline))
    print(markdown(env, rows, pipeline))
    return 0


def pipeline_rows(frames: int, reps: int, threads: int | None) -> list[dict]:
    """frames/s of the whole chain (no rendering) per pose backend x detector backend, interleaved
    repetitions; detector at 480 as the `video` command's default."""
    from transpose_live.backends.choose import installed
    from transpose_live.bench.pipeline_bench import bench_pipeline
    from transpose_live.engine import PoseEstimator
    from transpose_live.pipeline import build_detector

    video = SHARED / "data" / "clips" / "squat.mp4"
    poses = {b: PoseEstimator(model="tp_r_a3", weights=None, device="cpu", flip_test=False, backend=b)
             for b in ("onnxruntime", "openvino") if installed(b)}
    with tempfile.TemporaryDirectory(prefix="tl-detbench-") as home:
        os.environ["TRANSPOSE_LIVE_CACHE"] = home
        dets = {b: build_detector("yolo", SHARED / "weights" / "yolo11n-pose.pt", imgsz=480, backend=b)
                for b in ("torch", "onnxruntime", "openvino") if b == "torch" or installed(b)}
        combos = [(p, d) for p in poses for d in dets]
        runs = {c: [] for c in combos}
        detect = {c: [] for c in combos}
        pose = {c: [] for c in combos}
        for rep in range(reps):
            for p, d in combos:
                s = bench_pipeline(video, estimator=poses[p], det=dets[d], max_frames=frames, progress=False,
                                   threads=threads, render=False)
                runs[(p, d)].append(s["fps"])
                detect[(p, d)].append(s["stages"]["detect"]["ms_per_call"])
                pose[(p, d)].append(s["stages"]["pose"]["ms_per_call"])
            print(f"  pipeline rep {rep + 1}/{reps} done", file=sys.stderr)
    med = {c: statistics.median(v) for c, v in runs.items()}
    return [dict(pose_backend=p, detector_backend=d, model="tp_r_a3", frames=frames,
                 fps_median=round(med[(p, d)], 2), fps_all=runs[(p, d)],
                 detect_ms_median=round(statistics.median(detect[(p, d)]), 2),
                 pose_ms_median=round(statistics.median(pose[(p, d)]), 2),
                 vs_torch_detector=round(med[(p, d)] / med[(p, "torch")], 3)) for p, d in combos]


def markdown(env: dict, rows: list[dict], pipeline: list[dict] = ()) -> str:
    lines = [
        "# Person detector per CPU runtime (ms per frame, whole call: letterbox + model + NMS)", "",
        f"{env['cpu']}, {env['threads']['runtime']} threads, {env['weights']}, {env['frames_per_clip']} frames per "
        f"clip, median of {env['reps']} interleaved repetitions, created {env['created']} "
        f"({', '.join(f'{k} {v}' for k, v in env['versions'].items())}). `load` is the median 1-minute load "
        "average (2 cores: above 2, other processes were competing). IoU and count are against torch at the same "
        "size.", "",
        "| imgsz | clip | variant | model input | ms/frame | vs torch | boxes/frame | same count | IoU min | IoU mean | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['imgsz']} | {r['clip']} | {r['variant']} | {r['input_size']} | {r['ms_median']:.1f} | "
                     f"{r['vs_torch']:.2f}x | {r['boxes_per_frame']} | {r['same_count']} | {r['iou_min']} | "
                     f"{r['iou_mean']} | {r['load_1min']} |")
    if pipeline:
        lines += ["", f"Whole chain on squat.mp4 ({pipeline[0]['frames']} frames, no rendering, detector at 480, "
                  f"pose model {pipeline[0]['model']}, median of {env['reps']} interleaved runs; ms/call from the "
                  "pipeline's own stage timings):", "",
                  "| pose backend | detector backend | frames/s | vs torch detector | detect ms/call | pose ms/call |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {p['pose_backend']} | {p['detector_backend']} | {p['fps_median']:.2f} | "
                  f"{p['vs_torch_detector']:.2f}x | {p['detect_ms_median']:.1f} | {p['pose_ms_median']:.1f} |"
                  for p in pipeline]
    lines += ["", *policy_lines(rows, pipeline)]
    return "\n".join(lines) + "\n"


def policy_lines(rows: list[dict], pipeline: list[dict]) -> list[str]:
    """What `--detector-backend auto` does, with this run's ratios behind it."""
    def span(variant):
        ratios = [r["vs_torch"] for r in rows if r["variant"] == variant]
        return f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "n/a"

    text = ("## `--detector-backend auto`\n\n"
            "When the pose model runs exported on the CPU (onnxruntime, the CPU default, or OpenVINO), the "
            "detector runs exported too: on OpenVINO when it is installed (the `openvino` extra), else on "
            "onnxruntime; a torch pose model (CUDA, or `--backend torch` for `--attention`) keeps the torch "
            "detector. Exports are ultralytics' own, `dynamic=True` (frames letterboxed to a multiple of 32 "
            "as for torch, not to a square). Why, from this run: per call, time vs torch over both clips "
            f"and sizes: OpenVINO dynamic {span('openvino-dynamic')}, onnxruntime dynamic "
            f"{span('onnxruntime-dynamic')}, while the fixed square exports are slower (onnxruntime fixed "
            f"{span('onnxruntime')}, OpenVINO fixed {span('openvino')}) and their boxes drift more.")
    if pipeline:
        fps = {(p["pose_backend"], p["detector_backend"]): p["fps_median"] for p in pipeline}
        parts = [f"pose on {pose}: " + ", ".join(f"{d} {fps[(pose, d)]:.2f}" for pp, d in fps if pp == pose)
                 for pose in dict.fromkeys(p for p, _ in fps)]
        text += " Whole chain (frames/s by detector backend): " + "; ".join(parts)
        mixed, same = fps.get(("onnxruntime", "openvino")), fps.get(("onnxruntime", "onnxruntime"))
        if mixed is not None and same is not None:
            text += (f" (an OpenVINO detector beside the onnxruntime pose model: {mixed / same:.2f}x the all-"
                     "onnxruntime chain).")
    text += (f" The shipped OpenVINO INT8 YOLO11n folder (another model: 80 classes, fixed 640) ran at "
             f"{span('openvino-int8-yolo11n-640')} torch's time at 640, against {span('openvino-dynamic')} for "
             "the fp32 dynamic export over both sizes; see its box agreement above.")
    return text.splitlines()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("ultralytics", "onnxruntime", "openvino"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
