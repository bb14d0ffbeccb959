"""Joint angles from 2D keypoints (or triangulated 3D ones), with one set of conventions for files, plots and
the live overlay.

Conventions:
- Degrees, always in [0, 180]. Every angle is the unsigned angle between two vectors (arccos of the
  normalised dot product), so it never wraps around: there is no 359 -> 0 (or 122 -> 329) jump.
- Joint angles are the interior angle at the middle joint, 180 = straight, smaller = more bent:
  knee (hip-knee-ankle), hip (shoulder-hip-knee), elbow (shoulder-elbow-wrist), shoulder
  (hip-shoulder-elbow: ~0 arm down along the trunk, 90 arm horizontal, 180 overhead), ankle
  (knee-ankle-toe, when the keypoint set has a toe / foot point).
- Sets without a foot point (COCO-17, MPII-16) get the shank instead of the ankle: the inclination of
  ankle -> knee to the image vertical (0 = shank upright).
- trunk: inclination of hip midpoint -> shoulder midpoint to the image vertical (0 upright, 90 lying).
- Sides are named as in the keypoint set: an angle is called after its middle keypoint (`left_knee`,
  `l_knee` for MPII), the shank after its ankle (`left_shank`).
- NaN, never 0, when any keypoint an angle needs scores below `kpt_thr` (or two points coincide).
- 3D keypoints ([x, y, z, score], metres, from `triangulate`): the same angles between the same 3D vectors,
  so a joint angle is the true one, not its projection on the image; the vertical of the trunk and
  shank is the world's +z (the calibration's up: Qualisys, or a board lying on the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transpose_live.config import KEYPOINT_THRESHOLD
from transpose_live.keypoints import KeypointSet, normal_name, side_of

JOINTS = ("knee", "hip", "elbow", "shoulder", "ankle", "shank", "trunk")  # the names exercises may use
_FOOT = ("big_toe", "toe", "foot", "foot_index", "small_toe", "heel")
_SIDE_TOKENS = {"left", "l", "right", "r"}
_SIDE_NAME = {-1: "left", 1: "right", 0: ""}


@dataclass(frozen=True)
class AngleDef:
    """One angle: `name` (column), `joint` (generic: knee, hip, ...), `side` (-1 left, +1 right, 0 none),
    `ends`: 3 point groups (a, vertex, c: joint angle) or 2 (from, to: inclination to the vertical);
    each group is keypoint indices averaged into one point."""

    name: str
    joint: str
    side: int
    ends: tuple[tuple[int, ...], ...]


def _parts(keypoints: KeypointSet) -> dict[tuple[int, str], int]:
    """(side, body part) -> keypoint index, e.g. (-1, 'knee') for left_knee / l_knee / knee_l."""
    found = {}
    for i, name in enumerate(keypoints.names):
        tokens = normal_name(name).split("_")
        side = side_of(name)
        part = "_".join(t for k, t in enumerate(tokens) if not (t in _SIDE_TOKENS and k in (0, len(tokens) - 1)))
        found.setdefault((side, part), i)
    return found


def angle_defs(keypoints: KeypointSet) -> list[AngleDef]:
    """Every angle the keypoint set allows, left before right, in `JOINTS` order, then the trunk."""
    parts = _parts(keypoints)
    names = keypoints.names
    defs = []
    triples = {"knee": ("hip", "knee", "ankle"), "hip": ("shoulder", "hip", "knee"),
               "elbow": ("shoulder", "elbow", "wrist"), "shoulder": ("hip", "shoulder", "elbow")}
    for joint in ("knee", "hip", "elbow", "shoulder", "ankle"):
        for side in (-1, 1):
            if joint == "ankle":
                d = _ankle(parts, names, side)
            else:
                idx = [parts.get((side, p)) for p in triples[joint]]
                d = None if None in idx else AngleDef(names[idx[1]], joint, side, tuple((i,) for i in idx))
            if d is not None:
                defs.append(d)
    hips = [parts.get((s, "hip")) for s in (-1, 1)]
    shoulders = [parts.get((s, "shoulder")) for s in (-1, 1)]
    if None not in hips and None not in shoulders:
        defs.append(AngleDef("trunk", "trunk", 0, (tuple(hips), tuple(shoulders))))
    return defs


def _ankle(parts, names, side) -> AngleDef | None:
    knee, ankle = parts.get((side, "knee")), parts.get((side, "ankle"))
    if knee is None or ankle is None:
        return None
    foot = next((parts[(side, f)] for f in _FOOT if (side, f) in parts), None)
    if foot is not None:
        return AngleDef(names[ankle], "ankle", side, ((knee,), (ankle,), (foot,)))
    shank = names[ankle].replace("ankle", "shank").replace("Ankle", "Shank")
    return AngleDef(shank if shank != names[ankle] else f"{_SIDE_NAME[side]}_shank", "shank", side,
                    ((ankle,), (knee,)))


def _point(kpts: np.ndarray, group: tuple[int, ...], kpt_thr: float) -> np.ndarray:
    """(..., D) mean of the group's points, NaN where any of them scores below kpt_thr (score: last column)."""
    pts = kpts[..., list(group), :]
    ok = (pts[..., -1] >= kpt_thr).all(axis=-1)
    xy = pts[..., :-1].mean(axis=-2).astype(np.float64)
    xy[~ok] = np.nan
    return xy


def _between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (u * v).sum(axis=-1) / (nu * nv)
        out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where((nu == 0) | (nv == 0), np.nan, out)


def compute_angles(kpts: np.ndarray, defs: list[AngleDef], kpt_thr: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """(..., K, 3) 2D or (..., K, 4) 3D keypoints -> (..., len(defs)) angles in degrees (NaN where not
    measurable)."""
    kpts = np.asarray(kpts, np.float64)
    out = np.full(kpts.shape[:-2] + (len(defs),), np.nan)
    up = np.array([0.0, -1.0]) if kpts.shape[-1] == 3 else np.array([0.0, 0.0, 1.0])  # image y grows downward
    for j, d in enumerate(defs):
        p = [_point(kpts, g, kpt_thr) for g in d.ends]
        if len(p) == 3:
            out[..., j] = _between(p[0] - p[1], p[2] - p[1])
        else:
            out[..., j] = _between(p[1] - p[0], np.broadcast_to(up, p[0].shape))
    return out


def side_defs(defs: list[AngleDef], joint: str) -> dict[int, int]:
    """{side: column index} of a generic joint name ('knee' -> {-1: left_knee, 1: right_knee})."""
    return {d.side: j for j, d in enumerate(defs) if d.joint == joint}
