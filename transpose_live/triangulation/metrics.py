"""Quality of a triangulated recording without ground truth: reprojection error and bone lengths
(a real person's bones do not change length, so their coefficient of variation over time measures noise)."""

from __future__ import annotations

import numpy as np

from transpose_live.keypoints import KeypointSet
from transpose_live.triangulation.session import Recording3D

BONES = {  # name -> (from, to) in COCO-17 names
    "left_thigh": ("left_hip", "left_knee"), "right_thigh": ("right_hip", "right_knee"),
    "left_shank": ("left_knee", "left_ankle"), "right_shank": ("right_knee", "right_ankle"),
    "left_upper_arm": ("left_shoulder", "left_elbow"), "right_upper_arm": ("right_shoulder", "right_elbow"),
    "left_forearm": ("left_elbow", "left_wrist"), "right_forearm": ("right_elbow", "right_wrist"),
}


def bone_lengths(points: np.ndarray, keypoints: KeypointSet) -> dict[str, np.ndarray]:
    """(T, K, 4) points of one person (x, y, z, score) -> bone name -> (T,) lengths in metres (NaN where an
    end is not triangulated)."""
    idx = {n: i for i, n in enumerate(keypoints.names)}
    out = {}
    for bone, (a, b) in BONES.items():
        if a in idx and b in idx:
            pa, pb = points[:, idx[a]], points[:, idx[b]]
            ok = (pa[:, 3] > 0) & (pb[:, 3] > 0)
            out[bone] = np.where(ok, np.linalg.norm(pa[:, :3] - pb[:, :3], axis=1), np.nan)
    return out


def bone_stats(points: np.ndarray, keypoints: KeypointSet) -> dict[str, dict[str, float]]:
    """(T, K, 4) points of one person -> bone -> {median length (m), coefficient of variation (std / mean),
    frames measured}."""
    stats = {}
    for bone, lengths in bone_lengths(points, keypoints).items():
        v = lengths[np.isfinite(lengths)]
        stats[bone] = {"median_m": float(np.median(v)) if len(v) else float("nan"),
                       "cv": float(np.std(v) / np.mean(v)) if len(v) > 1 else float("nan"), "frames": int(len(v))}
    return stats


def summary(rec: Recording3D) -> dict:
    """The numbers benchmarks/multiview.py and the tests report, for the main person."""
    person = rec.main_person()
    bones = bone_stats(person.points, rec.keypoints)
    errors = person.errors[np.isfinite(person.errors)]
    seen = (person.points[..., 3] > 0).any(axis=1)
    return {"frames": int(len(rec.frames)), "frames_triangulated": int(seen.sum()),
            "people": len(rec.people), "median_reprojection_px": float(np.median(errors)) if len(errors) else None,
            "median_bone_cv": float(np.nanmedian([b["cv"] for b in bones.values()])), "bones": bones,
            "median_skew_ms": float(np.median(rec.skews) * 1000)}


def first_person_points(records: list[dict]) -> np.ndarray:
    """(T, K, 4) points of the first person of each 3D JSONL line that has one (`null` -> NaN, score 0)."""
    rows = [[[np.nan if v is None else v for v in k] for k in rec["persons"][0]["keypoints"]]
            for rec in records if rec["persons"]]
    return np.array(rows, float).reshape(len(rows), -1, 4) if rows else np.zeros((0, 0, 4))


def leg_lengths(points: np.ndarray, keypoints: KeypointSet) -> dict[str, float | None]:
    """{"thigh", "shank"}: the median length (m) of both sides together, None when never measured."""
    lengths = bone_lengths(points, keypoints) if len(points) else {}
    out = {}
    for leg in ("thigh", "shank"):
        v = np.concatenate([lengths.get(f"{side}_{leg}", np.zeros(0)) for side in ("left", "right")])
        v = v[np.isfinite(v)]
        out[leg] = round(float(np.median(v)), 3) if len(v) else None
    return out
