"""`IdentityAssociator`: one id per person through occlusions and exits (the default `PoseTracker` association).

Per frame, in order:
1. every track's box is predicted (`motion.BoxMotion`: Kalman, observation-centric re-update after a gap);
2. confident detections (score >= `HIGH`) are matched to the tracks seen within `max_missed` frames by one
   cost: 0.5 x (1 - motion similarity) + 0.5 x (1 - appearance similarity), where the motion similarity is
   the best of IoU with the predicted box, IoU with the last seen box and OKS of the keypoints (when both
   poses have confident keypoints); for a detection that is not clear (below) appearance weighs only
   `PARTIAL_APP`. Gating: a pair is never matched when the centres are further apart than
   `GATE` box heights (widening by `GATE_GROWTH` per missed frame) or the heights differ by more than 2x,
   so appearance never glues two people who are far apart; nor when the appearance similarity is under
   `APP_GATE`; nor above a cost of `MAX_COST`;
3. the remaining low-score detections go to the remaining recent confirmed tracks by IoU alone (ByteTrack's
   second stage; a young track is confirmed by confident detections only, so a sliver of a partly hidden
   person never becomes a new id);
4. detections still unmatched (and new tracks not confirmed yet) are compared with the gallery: every
   confirmed track not seen this frame and seen within `reid_memory` seconds keeps its appearance; a
   similarity of at least `REID_MIN` (and a plausible size) gives the person the old id back, never to a
   second box of a person matched this frame (`_duplicate`);
5. the rest (but boxes repeating a matched person's: `_duplicate`) start tentative tracks, confirmed (given a new, never reused id) on their `CONFIRM`-th
   frame (at once on the first frame of the video); a tentative track missed once is dropped.

The appearance (`appearance.describe`, needs the frame image) of a track is an average over the frames
where its person was seen clearly: a confident detection overlapping no other detection by more than
`CLEAR_OVERLAP` of its area. A box that is not clear also moves the Kalman filter less (`PARTLY_SEEN_NOISE`).
Without an image (or `appearance=False`) motion and keypoints decide alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from transpose_live.poses import Poses
from transpose_live.tracking import appearance as app
from transpose_live.tracking.association import box_iou, pose_oks
from transpose_live.tracking.motion import BoxMotion, xyxy_to_z

HIGH, LOW, NEW = 0.4, 0.1, 0.3  # detection scores: first stage, second stage, starts a track
GATE, GATE_GROWTH, GATE_MAX = 0.6, 0.15, 2.5  # centre distance in box heights
APP_GATE = 0.5  # appearance similarity under which a pair is never matched
APP_FLOOR = 0.5  # appearance similarity counted as "no resemblance" in the cost
MAX_COST = 0.7
REID_MIN = 0.8  # gallery: appearance similarity to give an old id back
CONFIRM = 2  # frames a new track needs before it gets an id
MAX_TENTATIVE, EDGE = 15, 2  # a new track at the frame border (px) waits for an id up to this many frames
CLEAR_OVERLAP = 0.15  # of a detection's area covered by another: not clear, its appearance is not learnt
DUPLICATE_IOU, DUPLICATE_INSIDE = 0.4, 0.85  # an unmatched box this close to a matched one starts no track
EMA = 0.9  # weight of the old appearance per clear sighting
KEYPOINT_SCORE = 0.5  # keypoints count for OKS when at least half of them are this confident
PARTLY_SEEN_NOISE = 3.0  # x the measurement std of a box that is not clear (a partly hidden person's box is
# cut or merged with the occluder's: it must not bend the velocity; 2-5 measured alike)
PARTIAL_APP = 0.25  # weight of appearance in the cost of a detection that is not clear (0.2-0.3 measured alike)
REID_MEMORY = 10.0  # seconds (`--reid-memory`)


@dataclass(eq=False)
class _Person:
    motion: BoxMotion
    keypoints: np.ndarray
    feature: np.ndarray | None
    last_t: float
    id: int = -1  # public id; -1 while tentative
    hits: int = 1


def _trusted(kpts: np.ndarray) -> bool:
    return bool((kpts[:, 2] >= KEYPOINT_SCORE).mean() >= 0.5)


def _clear(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(N,) bool: confident and covered by no other detection more than CLEAR_OVERLAP of its own area."""
    if len(boxes) == 0:
        return np.zeros(0, bool)
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    np.fill_diagonal(inter, 0)
    area = np.clip(boxes[:, 2:] - boxes[:, :2], 1, None).prod(-1)
    return ((inter / area[:, None]).max(1) <= CLEAR_OVERLAP) & (scores >= NEW)


def _hungarian(cost: np.ndarray, limit: float) -> list[tuple[int, int]]:
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(np.minimum(cost, limit + 1.0))
    return [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= limit]


class IdentityAssociator:
    """Ids per frame for `PoseTracker` (see the module docstring). `new_id()` hands out public ids."""

    def __init__(self, new_id: Callable[[], int], max_missed: int = 30, reid_memory: float = REID_MEMORY,
                 appearance: bool = True) -> None:
        self.new_id, self.max_missed = new_id, int(max_missed)
        self.reid_memory, self.appearance = float(reid_memory), bool(appearance)
        self.people: list[_Person] = []
        self.frames = 0
        self._edge: tuple[int, int] | None = None  # frame width, height
        self._awaited = False  # someone in the gallery could be coming back

    def gallery_ids(self) -> list[int]:
        """Ids of the confirmed people not seen in the last frame that can still come back."""
        return [p.id for p in self.people if p.id >= 0 and p.motion.missed > 0]

    # ------------------------------------------------------------ costs
    def _motion_cost(self, poses: Poses, index: np.ndarray, people: list[_Person]) -> np.ndarray:
        """(len(index), len(people)) 1 - motion similarity, inf outside the gate."""
        boxes = poses.boxes[index]
        pred = np.stack([p.motion.box for p in people])
        last = np.stack([p.motion.last_box for p in people])
        sim = np.maximum(box_iou(boxes, pred), box_iou(boxes, last))
        kp = poses.keypoints[index]
        for j, p in enumerate(people):
            rows = [i for i, k in enumerate(kp) if _trusted(k)] if _trusted(p.keypoints) else []
            if rows:
                sim[rows, j] = np.maximum(sim[rows, j], pose_oks(kp[rows], p.keypoints[None], last[j:j + 1])[:, 0])
        z = np.stack([xyxy_to_z(b) for b in boxes]).reshape(-1, 4)
        zp = np.stack([xyxy_to_z(b) for b in pred])
        missed = np.array([p.motion.missed - 1 for p in people])
        reach = np.minimum(GATE + GATE_GROWTH * missed, GATE_MAX) * zp[:, 3]
        dist = np.linalg.norm(z[:, None, :2] - zp[None, :, :2], axis=-1)
        ratio = z[:, None, 3] / zp[None, :, 3]
        gated = (dist > reach[None]) | (ratio > 2) | (ratio < 0.5)
        return np.where(gated, np.inf, 1.0 - sim)

    def _cost(self, poses: Poses, index: np.ndarray, feats, people: list[_Person], clear: np.ndarray) -> np.ndarray:
        """Joint cost. Appearance counts half for detections seen clearly; for the others (a partly hidden
        person's colours mix with the occluder's) it counts `PARTIAL_APP` and never gates: enough to tell
        which of two overlapping boxes shows whom when motion alone is nearly even."""
        cost = self._motion_cost(poses, index, people)
        if feats is None:
            return cost
        seen = clear[index]
        for j, p in enumerate(people):
            if p.feature is None:
                continue
            s = app.similarity(feats[index], p.feature[None])[:, 0]
            part = 1.0 - np.clip((s - APP_FLOOR) / (1 - APP_FLOOR), 0, 1)
            joint = np.where(s < APP_GATE, np.inf, 0.5 * cost[:, j] + 0.5 * part)
            partial = (1 - PARTIAL_APP) * cost[:, j] + PARTIAL_APP * part
            cost[:, j] = np.where(seen, joint, partial)
        return cost

    # ------------------------------------------------------------ stages
    def _match_recent(self, poses: Poses, feats, free: list[int], matched: dict[int, _Person],
                      clear: np.ndarray) -> None:
        """Stages 2 and 3: confident detections by the joint cost, then low ones by IoU alone."""
        recent = [p for p in self.people if p.motion.missed <= self.max_missed + 1]
        for stage in ("high", "low"):
            rows = [i for i in free if (poses.box_scores[i] >= HIGH) == (stage == "high")
                    and poses.box_scores[i] >= LOW]
            people = [p for p in recent if all(q is not p for q in matched.values())
                      and (stage == "high" or p.id >= 0)]  # a young track is confirmed by confident boxes only
            if not rows or not people:
                continue
            if stage == "high":
                cost = self._cost(poses, np.array(rows), feats, people, clear)
                pairs = _hungarian(cost, MAX_COST)
            else:
                iou = box_iou(poses.boxes[rows], np.stack([p.motion.box for p in people]))
                pairs = _hungarian(1.0 - iou, 0.5)
            for r, c in pairs:
                matched[rows[r]] = people[c]
                free.remove(rows[r])

    def _reidentify(self, poses: Poses, feats, t: float, candidates: list[int], matched: dict[int, _Person]) -> None:
        """Stage 4: unmatched detections and tentative tracks against the gallery by appearance."""
        taken = {id(p) for p in matched.values()}
        gallery = [p for p in self.people if p.id >= 0 and id(p) not in taken and p.feature is not None
                   and t - p.last_t <= self.reid_memory]
        if feats is None or not gallery or not candidates:
            return
        sim = app.similarity(feats[candidates], np.stack([p.feature for p in gallery]))
        h = np.array([poses.boxes[i][3] - poses.boxes[i][1] for i in candidates])
        hg = np.array([p.motion.last_z[3] for p in gallery])
        ratio = h[:, None] / hg[None]
        ok = (sim >= REID_MIN) & (ratio < 2) & (ratio > 0.5)
        for r, c in _hungarian(np.where(ok, 1.0 - sim, np.inf), 1.0 - REID_MIN):
            i, person = candidates[r], gallery[c]
            tentative = matched.get(i)
            if tentative is not None:  # the young track was this gallery person: it takes the old id
                person.motion, person.hits = tentative.motion, person.hits + tentative.hits
                self.people.remove(tentative)
            else:
                person.motion = BoxMotion(poses.boxes[i])
                person.motion.missed = 1
            matched[i] = person

    # ------------------------------------------------------------ public
    def __call__(self, poses: Poses, t: float, image: np.ndarray | None = None) -> np.ndarray:
        """Public ids (N,) int64 of this frame's people (-1: tentative, no id yet)."""
        self.frames += 1
        for p in self.people:
            p.motion.predict()
        feats = app.describe(image, poses.boxes, poses.keypoints) if self.appearance and image is not None else None
        free = list(range(len(poses)))
        matched: dict[int, _Person] = {}
        clear = _clear(poses.boxes, poses.box_scores)
        self._edge = None if image is None else (image.shape[1], image.shape[0])
        self._match_recent(poses, feats, free, matched, clear)
        known = {j: q for j, q in matched.items() if q.id >= 0}
        candidates = [i for i in range(len(poses)) if poses.box_scores[i] >= NEW
                      and (i in free or matched[i].id < 0) and not self._duplicate(poses.boxes, i, known)]
        self._reidentify(poses, feats, float(t), candidates, matched)
        taken = {id(q) for q in matched.values()}
        self._awaited = any(p.id >= 0 and p.feature is not None and id(p) not in taken for p in self.people)
        confirmed = {j: q for j, q in matched.items() if q.id >= 0}
        for i in [i for i, q in matched.items() if q.id < 0 and self._duplicate(poses.boxes, i, confirmed)]:
            self.people.remove(matched.pop(i))  # a young track on a second box of a known person
            free.append(i)
        for i, person in matched.items():
            self._observe(person, poses, i, feats, clear[i], float(t))
        for i in free:
            if i not in matched and poses.box_scores[i] >= NEW and not self._duplicate(poses.boxes, i, matched):
                person = _Person(BoxMotion(poses.boxes[i]), poses.keypoints[i].copy(), None, float(t))
                self._observe(person, poses, i, feats, clear[i], float(t), fresh=True)
                self.people.append(person)
                matched[i] = person
        self._forget(matched, float(t))
        return np.array([matched[i].id if i in matched else -1 for i in range(len(poses))], np.int64)

    @staticmethod
    def _duplicate(boxes: np.ndarray, i: int, matched: dict[int, _Person]) -> bool:
        """Detection `i` mostly repeats a matched one (the detector's second box on one person, e.g. with
        arms spread): IoU >= DUPLICATE_IOU, or one lies DUPLICATE_INSIDE within the other. It starts no track."""
        others = [j for j in matched if j != i]
        if not others:
            return False
        b, o = boxes[i], boxes[others]
        inter = np.clip(np.minimum(b[2:], o[:, 2:]) - np.maximum(b[:2], o[:, :2]), 0, None).prod(-1)
        area = max(float(np.prod(np.clip(b[2:] - b[:2], 1, None))), 1.0)
        other = np.clip(o[:, 2:] - o[:, :2], 1, None).prod(-1)
        inside = np.maximum(inter / area, inter / other)  # either box within the other
        return bool((box_iou(b[None], o)[0] >= DUPLICATE_IOU).any() or (inside >= DUPLICATE_INSIDE).any())

    def _observe(self, person: _Person, poses: Poses, i: int, feats, clear: bool, t: float,
                 fresh: bool = False) -> None:
        if not fresh:
            person.motion.update(poses.boxes[i], 1.0 if clear else PARTLY_SEEN_NOISE)
            person.hits += 1
        person.keypoints, person.last_t = poses.keypoints[i].copy(), t
        if feats is not None and (clear or person.feature is None):
            f = feats[i] if person.feature is None else EMA * person.feature + (1 - EMA) * feats[i]
            person.feature = (f / max(float(np.linalg.norm(f)), 1e-9)).astype(np.float32)
        if person.id < 0 and (self.frames == 1 or person.hits >= CONFIRM and (
                person.hits >= MAX_TENTATIVE or not self._entering(poses.boxes[i]))):
            person.id = self.new_id()

    def _entering(self, box: np.ndarray) -> bool:
        """The box touches the frame border while appearance is on and someone is in the gallery: the person
        may be coming back, so the track stays tentative (no id, gallery still asked) until fully in or MAX_TENTATIVE frames."""
        if self._edge is None or not self.appearance or not self._awaited:
            return False
        w, h = self._edge
        return bool(box[0] <= EDGE or box[1] <= EDGE or box[2] >= w - EDGE or box[3] >= h - EDGE)

    def _forget(self, matched: dict[int, _Person], t: float) -> None:
        """Drops unmatched tentative tracks and people past the gallery memory; stops predicting people
        lost longer than max_missed (they stay in the gallery, where motion does not count)."""
        seen = {id(p) for p in matched.values()}
        keep = []
        for p in self.people:
            if id(p) in seen:
                keep.append(p)
            elif p.id >= 0 and (p.motion.missed <= self.max_missed
                                or (p.feature is not None and t - p.last_t <= self.reid_memory)):
                keep.append(p)
        self.people = keep
