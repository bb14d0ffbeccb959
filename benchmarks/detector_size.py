"""People found and ms per frame of the person detector at each input size, over the shared clips:

    python benchmarks/detector_size.py      # writes benchmarks/results/detector-size.{json,md}
    python benchmarks/detector_size.py --frames 10 --sizes 480,640 --clips squat.mp4

Decides `--detector-imgsz` per command (docs/detector-size.md): the detector is
`transpose_live.pipeline.PersonDetector` as the pipeline calls it (letterbox, model, NMS, person class,
confidence 0.25), on the first `--frames` frames of every clip in ../shared/data/clips, with the YOLO11n
weights from ../shared/weights (`--weights`; the pose model's boxes serve as person boxes; the shared
INT8 OpenVINO folders have a fixed 640 input, so the size does not apply to them). Recall at a size is the share of the largest size's people (IoU >= 0.5,
same frame) that it also finds; "found" counts every box. Times are medians per call, all sizes
interleaved frame by frame so load changes hit every size alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import transpose_live  # noqa: F401  (first: sets OpenMP's passive wait policy before torch loads)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = ROOT.parent / "shared"


def first_frames(path: Path, count: int) -> list[np.ndarray]:
    from transpose_live.pipeline import open_video

    source, frames = open_video(path), []
    try:
        for frame in source.start():
            frames.append(frame.image)
            if len(frames) >= count:
                break
    finally:
        source.close()
    return frames


def matched(ref: np.ndarray, boxes: np.ndarray, thr: float = 0.5) -> int:
    """How many of `ref`'s boxes have a box in `boxes` with IoU >= thr (greedy, one to one)."""
    if len(ref) == 0 or len(boxes) == 0:
        return 0
    x1 = np.maximum(ref[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(ref[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(ref[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(ref[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # noqa: E731
    iou = inter / (area(ref)[:, None] + area(boxes)[None, :] - inter)
    hits, used = 0, set()
    for i in range(len(ref)):
        for j in np.argsort(-iou[i]):
            if iou[i, j] >= thr and j not in used:
                used.add(int(j))
                hits += 1
                break
    return hits


def run(weights: Path, backend: str, sizes: list[int], clips: list[Path], frames: int) -> dict:
    from transpose_live.pipeline import PersonDetector

    dets = {s: PersonDetector(str(weights), device="cpu", imgsz=s, backend=backend) for s in sizes}
    rows = {}
    for clip in clips:
        images = first_frames(clip, frames)
        boxes = {s: [] for s in sizes}
        ms = {s: [] for s in sizes}
        for s in sizes:
            dets[s](images[0])  # warm-up, untimed
        for image in images:
            for s in sizes:
                t0 = time.perf_counter()
                b, _ = dets[s](image)
                ms[s].append(1000 * (time.perf_counter() - t0))
                boxes[s].append(b)
        ref = max(sizes)
        rows[clip.name] = {
            str(s): dict(found=sum(len(b) for b in boxes[s]), ms=round(statistics.median(ms[s]), 1),
                         recall_vs_largest=round(sum(matched(r, b) for r, b in zip(boxes[ref], boxes[s]))
                                                 / max(1, sum(len(r) for r in boxes[ref])), 3))
            for s in sizes
        }
        print(clip.name, {s: (v["found"], v["ms"], v["recall_vs_largest"]) for s, v in rows[clip.name].items()})
    totals = {str(s): dict(found=sum(r[str(s)]["found"] for r in rows.values()),
                           ms_median=round(statistics.median(r[str(s)]["ms"] for r in rows.values()), 1))
              for s in sizes}
    return dict(weights=weights.name, backend=backend, frames_per_clip=frames, clips=rows, totals=totals)


def markdown(results: list[dict], sizes: list[int]) -> str:
    lines = ["# Detector input size: people found and ms per call", "",
             f"`python benchmarks/detector_size.py` ({datetime.now(timezone.utc):%Y-%m-%d}); first "
             f"{results[0]['frames_per_clip']} frames of each shared clip, CPU.", ""]
    for r in results:
        lines += [f"## {r['weights']} ({r['backend']})", "",
                  "| clip | " + " | ".join(f"{s}: found / recall / ms" for s in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for clip, row in r["clips"].items():
            lines.append(f"| {clip} | " + " | ".join(
                f"{row[str(s)]['found']} / {row[str(s)]['recall_vs_largest']:.3f} / {row[str(s)]['ms']:.0f}"
                for s in sizes) + " |")
        lines.append("| **all** | " + " | ".join(
            f"**{r['totals'][str(s)]['found']}** / - / {r['totals'][str(s)]['ms_median']:.0f}" for s in sizes) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--sizes", default="320,480,640")
    parser.add_argument("--clips", default=None, help="comma-separated names in ../shared/data/clips (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", default=str(SHARED / "weights" / "yolo11n-pose.pt"))
    parser.add_argument("--out", default=str(RESULTS / "detector-size"))
    args = parser.parse_args()
    from transpose_live.runtime import apply_budget

    apply_budget(args.threads)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    folder = SHARED / "data" / "clips"
    clips = [folder / n for n in args.clips.split(",")] if args.clips else sorted(folder.iterdir())
    results = [run(Path(args.weights), "torch", sizes, clips, args.frames)]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(dict(sizes=sizes, results=results), indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(results, sizes) + "\n")
    print(f"wrote {out.with_suffix('.json')} and .md")


if __name__ == "__main__":
    main()
