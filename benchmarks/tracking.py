"""Identity through occlusion and re-entry: our tracker against ultralytics' trackers on the same frames.

    python benchmarks/tracking.py [--imgsz 640] [--quick] [--out tracking]

Composited clips with known identities (`tests/identity_clips.py`: people cut from the shared one-person
clips, crossing, hiding behind each other, turning back, leaving and coming back; several speeds and sizes).
Detections: YOLO11n-pose (shared weights) at `--imgsz`, once per frame, fed to our `PoseTracker` (ids only;
"identity" the default association, "bytetrack" the one before it). ultralytics' trackers run through
`YOLO.track(persist=True)` on the same frames with the same weights and image size (so the same boxes):
bytetrack, botsort with `with_reid: True` (features pooled from the detector's own maps), ocsort, tracktrack
(with its ReID on, as botsort). Scores: TrackEval's HOTA, IDF1, id switches (IoU 0.5; hidden people, less than
half visible, are not expected). Also: the ms our association adds per person per frame (the update timed
on the cached detections, interleaved, best of 3), IDF1 against `--reid-memory`, and the number of ids on the
real clips exercise.avi (3 people; detector every frame, and every 5th frame with keypoint boxes between),
vtest.avi and walking.mp4 (no ground truth: fewer ids is not always better there, it is reported to show no
regression). Writes benchmarks/results/<out>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import identity_clips as ic  # noqa: E402

from transpose_live.tracking import PoseTracker  # noqa: E402

PEERS = {"bytetrack": ("bytetrack.yaml", {}), "botsort+reid": ("botsort.yaml", {"with_reid": True}),
         "ocsort": ("ocsort.yaml", {}), "tracktrack+reid": ("tracktrack.yaml", {"with_reid": True})}
OURS = {"ours (identity)": {}, "ours before (bytetrack)": {"associate": "bytetrack"}}


def peer_yaml(name: str, folder: Path) -> str:
    import yaml
    from ultralytics.utils import ROOT as UL

    base, changes = PEERS[name]
    cfg = yaml.safe_load((UL / "cfg" / "trackers" / base).read_text())
    cfg.update(changes)
    path = folder / f"{name.replace('+', '_')}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def clip_set(quick: bool) -> list:
    base = ic.scenarios()
    if quick:
        return base[:1]
    fast = ic.scenarios(scale=0.6, speed=1.6)[1]
    fast.name, fast.what = "cross-three-fast-small", fast.what + " (1.6x faster, people 0.6x the size)"
    return base + [fast]


def time_update(scenario, sprites, dets, repeats: int = 3) -> dict:
    """ms per frame of PoseTracker.update (ids only) for each of OURS, best of `repeats`, interleaved."""
    images = [ic.render(scenario, sprites, f)[0] for f in range(len(dets))]
    best = {k: float("inf") for k in OURS}
    for _ in range(repeats):
        for name, kw in OURS.items():
            trk = PoseTracker(smooth="none", **kw)
            t0 = time.perf_counter()
            for f, poses in enumerate(dets):
                trk.update(poses, f / scenario.fps, image=images[f])
            best[name] = min(best[name], (time.perf_counter() - t0) * 1000 / len(dets))
    persons = sum(len(d) for d in dets) / len(dets)
    return {"ms_per_frame": best, "persons_per_frame": persons,
            "added_ms_per_person": (best["ours (identity)"] - best["ours before (bytetrack)"]) / max(persons, 1e-9)}


def composited(args, sprites, folder: Path) -> dict:
    out = {}
    configs = {name: peer_yaml(name, folder) for name in ("tracktrack+reid", "botsort+reid", "bytetrack", "ocsort")}
    for sc in clip_set(args.quick):
        if args.clips and sc.name not in args.clips.split(","):
            continue
        peers, dets, gt = ic.track_peers(ic.load_yolo(), sc, sprites, configs, args.imgsz)
        row = {"what": sc.what, "frames": sc.frames, "size": sc.size, "people": len(sc.people), "scores": {}}
        for name, kw in OURS.items():
            row["scores"][name] = ic.score(gt, ic.track_ours(sc, sprites, dets, **kw)[0])
        row["scores"]["ours, no appearance (no image)"] = ic.score(gt, ic.track_ours(sc, sprites, dets, with_image=False)[0])
        for name, tracks in peers.items():
            row["scores"][name] = ic.score(gt, tracks)
        row["memory"] = {m: ic.score(gt, ic.track_ours(sc, sprites, dets, identity={"reid_memory": m})[0])["IDF1"]
                         for m in (1.0, 2.0, 5.0, 10.0, 30.0)}
        row["timing"] = time_update(sc, sprites, dets)
        out[sc.name] = row
        print(sc.name, {k: round(v["IDF1"], 3) for k, v in row["scores"].items()}, flush=True)
    return out


def real_clips(args) -> dict:
    import cv2

    out = {}
    model = ic.load_yolo()
    for clip in ("exercise.avi", "vtest.avi", "walking.mp4"):
        limit = args.max_real or (400 if clip == "vtest.avi" else None)
        cap = cv2.VideoCapture(str(ic.CLIPS / clip))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        runs = {"before, detector every frame": (PoseTracker(smooth="none", associate="bytetrack"), 1),
                "ours, detector every frame": (PoseTracker(smooth="none"), 1),
                "ours, detector every 5th frame": (PoseTracker(smooth="none"), 5)}
        ids = {k: set() for k in runs}
        f = 0
        while limit is None or f < limit:
            ok, image = cap.read()
            if not ok:
                break
            poses = ic.detect(model, image, args.imgsz)
            for name, (trk, every) in runs.items():
                boxed = poses if f % every == 0 else ic.keypoint_boxes(poses)
                res = trk.update(boxed, f / fps, from_detector=f % every == 0, image=image)
                ids[name] |= set(int(i) for i in res.track_ids if i >= 0)
            f += 1
        cap.release()
        out[clip] = {"frames": f, **{k: len(v) for k, v in ids.items()}}
        print(clip, out[clip], flush=True)
    return out


def write_report(results: dict, path: Path) -> None:
    lines = ["# Identity through occlusion and re-entry (benchmarks/tracking.py)", "",
             f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average at start "
             f"{results['load']:.1f} (shared machine). YOLO11n-pose at {results['imgsz']} px, TrackEval "
             "HOTA / IDF1 / id switches (IoU 0.5; a person less than half visible is not expected).", ""]
    for name, row in results["composited"].items():
        lines += [f"## {name}: {row['what']}", "",
                  f"{row['frames']} frames, {row['size'][0]}x{row['size'][1]}, {row['people']} people.", "",
                  "| tracker | IDF1 | HOTA | id switches | ids (people: %d) | ids per person |" % row["people"],
                  "|---|---|---|---|---|---|"]
        for tracker, s in row["scores"].items():
            per = "; ".join(f"{p}: {len(v)}" for p, v in s["ids_per_person"].items())
            lines.append(f"| {tracker} | {s['IDF1']:.3f} | {s['HOTA']:.3f} | {s['IDSW']} | {s['ids']} | {per} |")
        t = row["timing"]
        lines += ["", "IDF1 by `--reid-memory` (s): " + ", ".join(f"{m:g}: {v:.3f}" for m, v in row["memory"].items()),
                  "", f"Association time per frame (best of 3): ours {t['ms_per_frame']['ours (identity)']:.2f} ms, "
                  f"before {t['ms_per_frame']['ours before (bytetrack)']:.2f} ms, {t['persons_per_frame']:.2f} "
                  f"people per frame: **{t['added_ms_per_person']:.2f} ms added per person per frame**.", ""]
    if results.get("real"):
        lines += ["## Real clips: number of ids (no ground truth)", "",
                  "| clip | frames | before, detector every frame | ours, detector every frame | ours, detector every 5th frame |",
                  "|---|---|---|---|---|"]
        for clip, r in results["real"].items():
            lines.append(f"| {clip} | {r['frames']} | {r['before, detector every frame']} | "
                         f"{r['ours, detector every frame']} | {r['ours, detector every 5th frame']} |")
        lines += ["", "Every 5th frame: the frames between use boxes from their own keypoints (`from_detector=False`), "
                  "a stand-in for `--det-every 5`.", ""]
    path.with_suffix(".md").write_text("\n".join(lines))
    path.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--quick", action="store_true", help="one composited clip, real clips cut to 60 frames")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--clips", default=None, help="comma-separated composited clip names (default: all)")
    ap.add_argument("--out", default="tracking")
    args = ap.parse_args()
    args.max_real = 60 if args.quick else None
    results = {"load": os.getloadavg()[0], "imgsz": args.imgsz}
    model = ic.load_yolo()
    sprites = [ic.make_sprite(model, c) for c in ic.PEOPLE]
    with tempfile.TemporaryDirectory() as folder:
        results["composited"] = composited(args, sprites, Path(folder))
    results["real"] = {} if args.no_real else real_clips(args)
    write_report(results, ROOT / "benchmarks" / "results" / args.out)


if __name__ == "__main__":
    main()
