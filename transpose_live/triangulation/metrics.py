"""Quality of a triangulated recording without ground truth: reprojection error and bone lengths
(a real person's bones do not change length, so their coefficient of variation over time measures noise)."""

from __future__ import annotations

import numpy as np

from transpose_live.keypoints import KeypointSet
from transpose_live.triangulation.session import Recording3D, Series3D

BONES = {  # name -> (from, to) in COCO-17 names
    "left_thigh": ("left_hip", "left_knee"), "right_thigh": ("right_hip", "right_knee"),
    "left_shank": ("left_knee", "left_ankle"), "right_shank": ("right_knee", "right_ankle"),
    "left_upper_arm": ("left_shoulder", "left_elbow"), "right_upper_arm": ("right_shoulder", "right_elbow"),
    "left_forearm": ("left_elbow", "left_wrist"), "right_forearm": ("right_elbow", "right_wrist"),
}


def bone_lengths(person: Series3D, keypoints: KeypointSet) -> dict[str, np.ndarray]:
    """Bone name -> (T,) lengths in metres (NaN where an end is not triangulated)."""
    idx = {n: i for i, n in enumerate(keypoints.names)}
    out = {}
    for bone, (a, b) in BONES.items():
        if a in idx and b in idx:
            pa, pb = person.points[:, idx[a]], person.points[:, idx[b]]
            ok = (pa[:, 3] > 0) & (pb[:, 3] > 0)
            out[bone] = np.where(ok, np.linalg.norm(pa[:, :3] - pb[:, :3], axis=1), np.nan)
    return out


def bone_stats(person: Series3D, keypoints: KeypointSet) -> dict[str, dict[str, float]]:
    """Bone -> {median length (m), coefficient of variation (std / mean), frames measured}."""
    stats = {}
    for bone, lengths in bone_lengths(person, keypoints).items():
        v = lengths[np.isfinite(lengths)]
        stats[bone] = {"median_m": float(np.median(v)) if len(v) else float("nan"),
                       "cv": float(np.std(v) / np.mean(v)) if len(v) > 1 else float("nan"), "frames": int(len(v))}
    return stats


def summary(rec: Recording3D) -> dict:
    """The numbers benchmarks/multiview.py and the tests report, for the main person."""
    person = rec.main_person()
    bones = bone_stats(person, rec.keypoints)
    errors = person.errors[np.isfinite(person.errors)]
    seen = (person.points[..., 3] > 0).any(axis=1)
    return {"frames": int(len(rec.frames)), "frames_triangulated": int(seen.sum()),
            "people": len(rec.people), "median_reprojection_px": float(np.median(errors)) if len(errors) else None,
            "median_bone_cv": float(np.nanmedian([b["cv"] for b in bones.values()])), "bones": bones,
            "median_skew_ms": float(np.median(rec.skews) * 1000)}
