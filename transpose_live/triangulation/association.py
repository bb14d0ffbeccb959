"""Who is who across views, and across time.

Across views (`associate`): for every pair of cameras and every pair of people in them, the cost is the
median symmetric epipolar distance (px) of the keypoints both see (>= MIN_SHARED of them, scores >=
kpt_thr): a keypoint of the same person lies on the epipolar line of its match. Pairs are taken cheapest
first and merged into groups (union-find) while the cost is below `max_px` and a group holds at most one
person per camera. Groups seen by 2+ cameras are people; one person alone in one view is left out.

Across time (`IdKeeper`): each frame's 3D people are matched to the people of the last frames by the
distance of their mean 3D points (Hungarian, scipy), within MAX_JUMP_M; the unmatched get new ids.
"""

from __future__ import annotations

import numpy as np

from transpose_live.calib.camera import Calibration

MAX_EPIPOLAR_PX = 60.0
MIN_SHARED = 4
MAX_JUMP_M = 0.5
FORGET_FRAMES = 60


def _skew(t: np.ndarray) -> np.ndarray:
    return np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])


def essential(calib: Calibration, i: int, j: int) -> np.ndarray:
    """E with x_i^T E x_j = 0 for normalised coordinates of cameras i and j."""
    a, b = calib.cameras[i], calib.cameras[j]
    r = a.rotation @ b.rotation.T
    t = a.translation - r @ b.translation
    return _skew(t) @ r


def _line_distance(x: np.ndarray, lines: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((x * lines[..., :2]).sum(-1) + lines[..., 2]) / np.linalg.norm(lines[..., :2], axis=-1)


def epipolar_cost(norm_a: np.ndarray, norm_b: np.ndarray, ok: np.ndarray, e: np.ndarray,
                  focal_a: float, focal_b: float) -> float:
    """Median symmetric epipolar distance (px) of one person's (K, 2) normalised points in two views."""
    if ok.sum() < MIN_SHARED:
        return np.inf
    ha = np.hstack([norm_a[ok], np.ones((ok.sum(), 1))])
    hb = np.hstack([norm_b[ok], np.ones((ok.sum(), 1))])
    d_a = _line_distance(norm_a[ok], hb @ e.T) * focal_a  # lines in view a from points of b
    d_b = _line_distance(norm_b[ok], ha @ e) * focal_b
    return float(np.median((d_a + d_b) / 2))


def associate(people: list[np.ndarray], calib: Calibration, kpt_thr: float = 0.3,
              max_px: float = MAX_EPIPOLAR_PX) -> list[dict[int, int]]:
    """people[v]: (N_v, K, 3) keypoints of camera v -> groups {camera index: person index} (2+ cameras)."""
    norms = [calib.cameras[v].normalise(p[..., :2]) if len(p) else np.zeros((0, 0, 2)) for v, p in enumerate(people)]
    pairs = []
    for i in range(len(people)):
        for j in range(i + 1, len(people)):
            if not len(people[i]) or not len(people[j]):
                continue
            e = essential(calib, i, j)
            for a in range(len(people[i])):
                for b in range(len(people[j])):
                    ok = (people[i][a, :, 2] >= kpt_thr) & (people[j][b, :, 2] >= kpt_thr)
                    ok &= np.isfinite(norms[i][a]).all(-1) & np.isfinite(norms[j][b]).all(-1)
                    cost = epipolar_cost(norms[i][a], norms[j][b], ok, e, calib.cameras[i].focal,
                                         calib.cameras[j].focal)
                    if cost <= max_px:
                        pairs.append((cost, (i, a), (j, b)))
    groups: dict[tuple[int, int], dict[int, int]] = {}
    for _, u, v in sorted(pairs):
        gu, gv = groups.get(u, {u[0]: u[1]}), groups.get(v, {v[0]: v[1]})
        if gu is gv or set(gu) & set(gv):
            continue  # already together, or a camera would hold two people of one group
        merged = {**gu, **gv}
        for cam, person in merged.items():
            groups[(cam, person)] = merged
    unique = {id(g): g for g in groups.values()}
    return sorted(unique.values(), key=lambda g: sorted(g.items()))


class IdKeeper:
    """Stable person ids over frames from 3D positions (see the module notes)."""

    def __init__(self, max_jump: float = MAX_JUMP_M, forget: int = FORGET_FRAMES) -> None:
        self.max_jump, self.forget = max_jump, forget
        self.known: dict[int, tuple[np.ndarray, int]] = {}  # id -> (centre, frame last seen)
        self.next_id = 0
        self.frame = 0

    def assign(self, centres: list[np.ndarray]) -> list[int]:
        """Ids for this frame's people (their mean 3D points), in their order."""
        from scipy.optimize import linear_sum_assignment

        self.frame += 1
        self.known = {k: v for k, v in self.known.items() if self.frame - v[1] <= self.forget}
        ids = [-1] * len(centres)
        known = list(self.known)
        if known and centres:
            cost = np.array([[np.linalg.norm(c - self.known[k][0]) if np.isfinite(c).all() else 1e9
                              for k in known] for c in centres])
            for r, col in zip(*linear_sum_assignment(cost)):
                if cost[r, col] <= self.max_jump:
                    ids[r] = known[col]
        for r, c in enumerate(centres):
            if ids[r] < 0:
                ids[r], self.next_id = self.next_id, self.next_id + 1
            if np.isfinite(c).all():
                self.known[ids[r]] = (c, self.frame)
        return ids
