"""Our multi-camera triangulation against Pose2Sim's, from the same 2D of the shared recording.

Recording: ../shared/data/multiview (4 calibrated cameras, 60 fps, 100 frames).

    python benchmarks/pose2sim_compare.py [--imgsz 640] [--python /tmp/p2s-venv/bin/python] [--out pose2sim-compare]

Pose2Sim runs in its own virtual environment (it brings opencv-contrib-python, opensim, PySide6, ...; never
install it into the project's venv). Make it once with:
    python3 -m venv /tmp/p2s-venv && /tmp/p2s-venv/bin/pip install pose2sim

Same 2D for both sides: benchmarks/multiview.py's YOLO11n-pose keypoints of every view (cached in
~/.cache/transpose-live-bench; made there when missing). Same calibration: the Qualisys file read by our
reader and written as our TOML (Pose2Sim's layout). Steps:
1. one Pose2Sim project folder per variant (under --work): Config.toml (Pose2Sim's own defaults, from its
   Demo_SinglePerson/Config.toml, with the overrides listed in OVERRIDES), calibration/<our TOML>, and
   pose/camNN_json/camNN_<frame>.json in OpenPose's format (every person of the view, COCO-17 order);
2. Pose2Sim's personAssociation + triangulation (+ filtering) run as a subprocess of --python;
3. the TRC it writes is scored with the bone-length code of our benchmark (transpose_live.triangulation.metrics);
4. ours (filtered, no 3D filter) and the plain weighted DLT run here on the same 2D, as in multiview.py.
Writes benchmarks/results/<NAME>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from multiview import CACHE, MULTIVIEW, poses_2d, run, save_results  # noqa: E402

from transpose_live.calib.formats import read_calibration, write_calibration  # noqa: E402
from transpose_live.keypoints import COCO17  # noqa: E402
from transpose_live.pose_files import read_poses  # noqa: E402
from transpose_live.triangulation.dlt import REJECT_PX  # noqa: E402
from transpose_live.triangulation.metrics import bone_stats  # noqa: E402
from transpose_live.triangulation.session import Recording3D, Series3D, Triangulator  # noqa: E402
from transpose_live.triangulation.sync import make_ticks  # noqa: E402

DEFAULT_PYTHON = "/tmp/p2s-venv/bin/python"
MAKE_VENV = "python3 -m venv /tmp/p2s-venv && /tmp/p2s-venv/bin/pip install pose2sim"
MARKER = ".transpose-live-pose2sim"  # only folders holding this file are ever deleted by this script

# Pose2Sim defaults changed here, each with its reason (everything else: Pose2Sim's Demo_SinglePerson config).
OVERRIDES = {
    "project": {"frame_rate": 60},  # 'auto' reads it from videos/, which this project folder has none of
    "pose": {"pose_model": "COCO_17"},  # our 2D is COCO-17 (YOLO11n-pose)
    # default 'Neck' is not a COCO_17 keypoint; Pose2Sim itself falls back to id 0 (Nose) with a warning
    "personAssociation": {"single_person": {"tracked_keypoint": "Nose"}},
    "triangulation": {"make_c3d": False},  # an extra output file only; no effect on the points
    "filtering": {"make_c3d": False, "display_figures": False, "save_filt_plots": False},  # headless
}
ASSOCIATE, TRIANGULATE, FILTER = ("personAssociation", {}), ("triangulation", {}), ("filtering", {})
MULTI = {"project": {"multi_person": True}}
NO_INTERPOLATION = {"triangulation": {"interpolation": "none", "fill_large_gaps_with": "nan"}}
VARIANTS = {  # name -> steps, each (Pose2Sim function, overrides for that step on top of OVERRIDES)
    "single-person (defaults)": [ASSOCIATE, TRIANGULATE, FILTER],
    "single-person, no interpolation": [ASSOCIATE, ("triangulation", NO_INTERPOLATION)],
    # Pose2Sim 0.10.49's personAssociation crashes with undistort_points = true (IndexError in
    # triangulate_comb as soon as a camera combination has fewer than 4 views), so only its triangulation
    # step undistorts here; its association runs with the default (false).
    "single-person, undistort_points": [ASSOCIATE, ("triangulation", {"triangulation": {"undistort_points": True}})],
    "multi-person": [("personAssociation", MULTI), ("triangulation", MULTI), ("filtering", MULTI)],
    "multi-person, no interpolation": [("personAssociation", MULTI),
                                       ("triangulation", {**MULTI, **NO_INTERPOLATION})],
    # not a default: Pose2Sim with our view-rejection threshold (REJECT_PX), to see how much of the gap it is
    f"multi-person, reprojection threshold {REJECT_PX:.0f} px (ours)": [
        ("personAssociation", MULTI), ("triangulation", {**MULTI, "triangulation": {
            "reproj_error_threshold_triangulation": REJECT_PX}}), ("filtering", MULTI)],
}
SETTINGS = {  # reported from the Config.toml each run used
    "triangulation": ["reproj_error_threshold_triangulation", "likelihood_threshold_triangulation",
                      "min_cameras_for_triangulation", "interpolation", "interp_if_gap_smaller_than",
                      "fill_large_gaps_with", "undistort_points", "handle_LR_swap", "sections_to_keep",
                      "min_chunk_size"],
    "personAssociation": ["single_person", "multi_person"],
    "filtering": ["reject_outliers", "filter", "type", "butterworth"],
    "project": ["multi_person", "frame_rate", "frame_range"],
}
CODE_DEFAULTS = {"undistort_points": False, "handle_LR_swap": False}  # not in its demo [triangulation]: code default

# Runs in Pose2Sim's venv, in the project folder: Config.toml = Pose2Sim's demo config + overrides, then the
# steps, each timed; writes p2s-result.json (version, step seconds, the config used).
DRIVER = r"""
import json, sys, time
from copy import deepcopy
from importlib.metadata import version
from pathlib import Path
import rtoml
from Pose2Sim import Pose2Sim
overrides, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
demo = rtoml.load(Path(Pose2Sim.__file__).parent / "Demo_SinglePerson" / "Config.toml")
seconds, configs = {}, {}
for step, extra in steps:
    config = Pose2Sim.recursive_update(Pose2Sim.recursive_update(deepcopy(demo), deepcopy(overrides)), deepcopy(extra))
    config["project"]["project_dir"] = "."
    rtoml.dump(config, Path("Config.toml"))
    start = time.perf_counter()
    getattr(Pose2Sim, step)()
    seconds[step], configs[step] = time.perf_counter() - start, rtoml.load(Path("Config.toml"))
result = {"version": version("pose2sim"), "seconds": seconds, "configs": configs}
Path("p2s-result.json").write_text(json.dumps(result))
"""


OBSERVED = {("0.10.49", 640): [  # what its logs and TRCs showed with this version and 2D size (checked by hand)
    "Observed with Pose2Sim 0.10.49 on this clip and 640 px 2D (from its logs.txt and TRCs under --work):",
    "- Single-person mode picks, per frame, the person combination with the lowest reprojection of the tracked "
    "keypoint (Nose here) and has no memory across frames: from frame 37 on, several keypoints come from the "
    "other person in the room (about 3 m away), so the bones jump to metres; its interpolation and "
    "last-value filling then draw lines between the two people (thigh up to 3.7 m). Its median distance to our "
    "points stays small because most frames are right; the CV shows the jumps.",
    "- With its default 15 px reprojection threshold and YOLO11n-pose 2D (our median reprojection is about "
    "18 px), Pose2Sim drops on average 1.8 of the 4 cameras per point in single-person mode, 1.1 in multi-person "
    "mode (its log), so many points come from 2 views; "
    "without interpolation 257 of 800 bone-frames are missing in single-person mode.",
    "- Multi-person mode keeps the right person (P0) but writes a second, spurious person (P1, forearm 4 cm) "
    "and its main person has isolated 2-view outliers (a 1.5 m forearm in one frame).",
    "- With our view-rejection threshold (80 px) its points are within about 1 mm of our unfiltered ones "
    "(median) and its bone CV comes down to a little above the plain weighted DLT's; the remaining gap is "
    "in the worst frames (our view rejection and association) and in the filters (our 3D RTS smoother vs "
    "its Hampel + Butterworth).",
    "- undistort_points = true crashes its personAssociation (IndexError in triangulate_comb when a camera "
    "combination has fewer than 4 views); the undistort_points variant undistorts in its triangulation step only.",
    "- Its filtering step writes 99 of the 100 frames (frames 0-98).", ""]}
P2S_NAMES = {"Nose": "nose"}  # Pose2Sim's COCO_17 marker names -> ours (LHip -> left_hip, ...)
for _name in COCO17.names:
    _side, _, _part = _name.partition("_")
    if _side in ("left", "right"):
        P2S_NAMES[_side[0].upper() + _part.capitalize()] = _name


def fail(message: str) -> None:
    """One line on stderr, exit 2 (a user error: what was wrong and what to do)."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def write_openpose(recording, folder: Path, camera: str) -> int:
    """One OpenPose JSON per frame with every person of the view (missing keypoints 0, 0, 0); returns files."""
    folder.mkdir(parents=True)
    for frame, poses in zip(recording.frames.tolist(), recording.poses):
        people = [{"person_id": [-1], "pose_keypoints_2d": np.nan_to_num(k[:, :3], nan=0.0).round(3).ravel().tolist()}
                  for k in np.asarray(poses.keypoints, np.float64)]
        (folder / f"{camera}_{frame:06d}.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return len(recording.frames)


def make_project(folder: Path, calib_path: Path, recordings, names: list[str]) -> None:
    if folder.exists():
        if not (folder / MARKER).exists():
            fail(f"{folder} exists and was not made by this script; give another --work")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).touch()
    (folder / "calibration").mkdir()
    write_calibration(read_calibration(calib_path), folder / "calibration" / "Calib_transpose_live.toml")
    for name, rec in zip(names, recordings):
        write_openpose(rec, folder / "pose" / f"{name}_json", name)


def read_trc(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Frame numbers, marker names and (T, M, 3) coordinates (NaN where empty) of a Pose2Sim TRC."""
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = [line.split("\t") for line in lines[5:] if line.strip()]
    values = np.array([[float(c) if c.strip() else np.nan for c in r[: 2 + 3 * len(names)]] for r in rows])
    return values[:, 0].astype(int), names, values[:, 2:].reshape(len(rows), len(names), 3)


def score_trc(path: Path, total_frames: int, reference: np.ndarray) -> dict:
    """The same numbers as metrics.summary for the person in a TRC (bones from metrics.bone_stats), and the
    median distance of its keypoints to `reference` ((F, 17, 3): ours, Z up, NaN where not triangulated)."""
    frames, names, xyz = read_trc(path)
    xyz = xyz[..., [2, 0, 1]]  # Pose2Sim writes Y up (X, Y, Z) = our (Y, Z, X); back to the calibration's axes
    points = np.zeros((len(frames), len(COCO17), 4))
    points[..., :3] = np.nan
    for m, name in enumerate(names):
        k = COCO17.names.index(P2S_NAMES[name])
        ok = np.isfinite(xyz[:, m]).all(axis=1)
        points[ok, k, :3], points[ok, k, 3] = xyz[ok, m], 1.0
    person = Series3D(0, frames, points, np.full(points.shape[:2], np.nan), [])
    bones = bone_stats(person, COCO17)
    dist = np.linalg.norm(points[..., :3] - reference[frames], axis=-1)
    return {"median_distance_to_ours_cm": float(100 * np.nanmedian(dist)), "frames": total_frames,
            "frames_triangulated": int((points[..., 3] > 0).any(axis=1).sum()),
            "bone_frames": sum(b["frames"] for b in bones.values()),
            "trc_frames": [int(frames[0]), int(frames[-1])], "median_reprojection_px": None,
            "median_bone_cv": float(np.nanmedian([b["cv"] for b in bones.values()])), "bones": bones}


def logged_errors(folder: Path) -> list[float]:
    """Pose2Sim's own reported mean reprojection error (all points, all frames kept) per person, px."""
    log = folder / "logs.txt"
    return [float(v) for v in re.findall(r"Mean reprojection error for all points on frames \d+ to \d+ is ([\d.]+) px",
                                         log.read_text(errors="replace") if log.exists() else "")]


def main_trc(folder: Path, total_frames: int, reference: np.ndarray) -> tuple[Path, dict, int]:
    """The TRC of Pose2Sim's main person (most bone-frames measured: in multi-person mode it writes one TRC
    per person), its scores and the number of persons written."""
    raw = sorted(p for p in (folder / "pose-3d").glob("*.trc") if "filt" not in p.name)
    scored = [(p, score_trc(p, total_frames, reference)) for p in raw]
    path, score = max(scored, key=lambda ps: (ps[1]["bone_frames"], -raw.index(ps[0])))
    return path, score, len(raw)


def run_pose2sim(python: str, folder: Path, overrides: dict, steps: list) -> dict:
    start = time.perf_counter()
    with open(folder / "p2s-output.txt", "w") as log:
        proc = subprocess.run([python, "-c", DRIVER, json.dumps(overrides), json.dumps(steps)], cwd=folder,
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (folder / "p2s-output.txt").read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"Pose2Sim failed in {folder} (exit {proc.returncode}):\n" + "\n".join(tail))
    result = json.loads((folder / "p2s-result.json").read_text())
    result["process_wall_s"] = wall
    return result


def pose2sim_rows(args, recordings, names: list[str], reference: np.ndarray) -> tuple[dict, dict]:
    total_frames = len(reference)
    rows, info = {}, {"settings": {}}
    calib_path = MULTIVIEW / "calibration" / "Calib.qca.txt"
    for variant, steps in VARIANTS.items():
        folder = Path(args.work) / re.sub(r"[^a-z0-9]+", "-", variant.lower()).strip("-")
        make_project(folder, calib_path, recordings, names)
        res = run_pose2sim(args.python, folder, OVERRIDES, steps)
        info["version"], cfg = res["version"], res["configs"]["triangulation"]
        info["settings"][variant] = {sec: {k: cfg.get(sec, {}).get(k, CODE_DEFAULTS.get(k)) for k in keys}
                                     for sec, keys in SETTINGS.items()}
        raw, score, persons = main_trc(folder, total_frames, reference)
        person = int(m.group(1)) if (m := re.search(r"_P(\d+)_", raw.name)) else 0
        errors = logged_errors(folder)
        seconds = res["seconds"]
        tri_s = seconds["personAssociation"] + seconds["triangulation"]
        rows[f"Pose2Sim {variant}"] = {
            **score, "wall_s": tri_s, "persons_written": persons, "trc": raw.name,
            "pose2sim_mean_reprojection_px": errors[person] if person < len(errors) else None}
        filt = sorted(folder.glob(f"pose-3d/{raw.name.rsplit('_', 1)[0]}_*filt*.trc"))
        if filt:
            rows[f"Pose2Sim {variant} + filtering"] = {**score_trc(filt[0], total_frames, reference),
                                                       "trc": filt[0].name, "wall_s": tri_s + seconds["filtering"]}
        info.setdefault("process_wall_s", {})[variant] = res["process_wall_s"]
    return rows, info


def reference_points(calib, ticks) -> np.ndarray:
    """(F, 17, 3) our main person, unfiltered, NaN where not triangulated: what Pose2Sim's points are compared to
    (multiview.run returns only the summary, so the recording is made again here)."""
    tri = Triangulator(calib)
    rec = Recording3D.from_frames([tri.tick(t) for t in ticks])
    person = rec.main_person()
    out = np.full((len(ticks), len(COCO17), 3), np.nan)
    out[person.rows] = np.where(person.points[..., 3:] > 0, person.points[..., :3], np.nan)
    return out


def ours_rows(calib, ticks) -> dict:
    rows = {}
    for name, filtered, options in (("ours", True, {}), ("ours, no 3D filter", False, {}),
                                    ("plain weighted DLT", False, {"reject_px": None, "associate_people": False})):
        start = time.perf_counter()
        rows[name] = run(calib, ticks, filtered, **options)
        rows[name]["wall_s"] = time.perf_counter() - start
        rows[name]["bone_frames"] = sum(b["frames"] for b in rows[name]["bones"].values())
    return rows


def markdown(result: dict) -> str:
    methods = result["methods"]
    bones = list(methods["ours"]["bones"])
    first = next(iter(VARIANTS))
    lines = [f"# Our triangulation vs Pose2Sim {result['pose2sim_version']} on ../shared/data/multiview "
             f"(same YOLO11n-pose 2D at {result['imgsz']} px, same calibration)", "",
             f"CPU: {result['cpu']}; load average at start {result['load']:.1f} (2 cores shared). "
             "Wall: ours = triangulation (+ 3D filter) of the 2D in memory; Pose2Sim = its personAssociation + "
             "triangulation (+ filtering) steps as timed inside its process, reading 400 JSON files and writing "
             "the TRC (process with imports: " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                                            result["pose2sim_process_wall_s"].items()) + ").", "",
             "| method | frames triangulated | bone-frames measured | median bone CV | " +
             " | ".join(f"{b} m (CV)" for b in bones) + " | median distance to ours, no 3D filter (cm) | wall (s) |",
             "|---" * (6 + len(bones)) + "|"]
    for name, m in methods.items():
        cells = [name, f"{m['frames_triangulated']}/{m['frames']}", f"{m['bone_frames']}/{len(bones) * m['frames']}",
                 f"{100 * m['median_bone_cv']:.2f} %"]
        cells += [f"{m['bones'][b]['median_m']:.3f} ({100 * m['bones'][b]['cv']:.1f} %)" for b in bones]
        dist = m.get("median_distance_to_ours_cm")
        lines.append("| " + " | ".join(cells + ["" if dist is None else f"{dist:.1f}", f"{m['wall_s']:.2f}"]) + " |")
    errors = ", ".join(f"{k}: {m['median_reprojection_px']:.1f} px (median)" for k, m in methods.items()
                       if m.get("median_reprojection_px") is not None)
    p2s = ", ".join(f"{k}: {m['pose2sim_mean_reprojection_px']} px (mean, from its log)" for k, m in methods.items()
                    if m.get("pose2sim_mean_reprojection_px") is not None)
    lines += ["", f"Reprojection error (each side's own measure, not the same statistic): {errors}; {p2s}.", "",
              f"Pose2Sim settings of '{first}' (its Demo_SinglePerson defaults except the overrides below):", "",
              "```json", json.dumps(result["pose2sim_settings"][first], indent=1), "```", "",
              "Overrides of Pose2Sim's defaults (all variants): " + json.dumps(OVERRIDES) + "; per variant: " +
              json.dumps({k: [s for s in v if s[1]] for k, v in VARIANTS.items()}) + ".", ""]
    return "\n".join(lines + OBSERVED.get((result["pose2sim_version"], result["imgsz"]), []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=f"Make Pose2Sim's venv once with: {MAKE_VENV}")
    parser.add_argument("--imgsz", type=int, default=640, help="2D detector input size (multiview.py's cache)")
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="python of the venv that has pose2sim")
    parser.add_argument("--work", default=str(CACHE / "pose2sim"), help="folder for the Pose2Sim projects")
    parser.add_argument("--out", default="pose2sim-compare")
    args = parser.parse_args()
    if not Path(args.python).exists():
        fail(f"{args.python} not found: make Pose2Sim's venv with `{MAKE_VENV}` or give --python")
    load = os.getloadavg()[0]
    calib = read_calibration(MULTIVIEW / "calibration" / "Calib.qca.txt")
    recordings = [read_poses(p) for p in poses_2d(args.imgsz)]
    ticks = make_ticks(recordings, calib.names)
    ours = ours_rows(calib, ticks)
    p2s, info = pose2sim_rows(args, recordings, calib.names, reference_points(calib, ticks))
    result = {"imgsz": args.imgsz, "cpu": platform.processor() or platform.machine(), "load": load,
              "pose2sim_version": info["version"], "pose2sim_settings": info["settings"],
              "pose2sim_process_wall_s": info["process_wall_s"], "methods": {**ours, **p2s}}
    save_results(result, args.out, markdown)


if __name__ == "__main__":
    main()
