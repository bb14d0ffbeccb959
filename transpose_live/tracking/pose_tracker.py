"""`PoseTracker`: per-frame `Poses` + frame time -> smoothed `Poses` with stable track ids.

    >>> tracker = PoseTracker(smooth="one-euro")          # or "kalman", "none"
    >>> for frame in frames:
    ...     poses = tracker.update(estimator.estimate(frame.image, boxes), frame.timestamp)

Each track owns its filter state; a track unseen for more than `max_missed` frames is dropped
and a new person always starts with fresh filters and a new id (ids are never reused).
Keypoint scores are low-pass filtered too. A keypoint scoring below `min_score` is held
(one-euro) or predicted (kalman) with its score fading; absent more than `hide_after` frames in
a row it is hidden (score 0) and its filter restarts when it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transpose_live.config import RunConfig
from transpose_live.poses import Poses
from transpose_live.tracking.kalman import KeypointKalman
from transpose_live.tracking.one_euro import OneEuroFilter, smoothing_factor
from transpose_live.tracking.association import ByteTrackAssociator, KeypointMatcher
from transpose_live.tracking.identity import IdentityAssociator

SMOOTHERS = ("one-euro", "kalman", "none")
ASSOCIATORS = ("identity", "bytetrack", "oks")
MIN_SCORE = 0.2  # below: keypoint absent this frame
HIDE_AFTER = 10  # frames absent in a row before a keypoint is hidden
SCORE_CUTOFF = 4.0  # Hz: low-pass cutoff of the keypoint scores
DEFAULT_DT = 1 / 30  # seconds, when timestamps do not increase


@dataclass
class _Track:
    """One person's state: filter, smoothed scores, keypoints absent counters, last pose."""

    filter: object | None
    last_frame: int
    keypoints: np.ndarray  # last output (K, 3)
    box: np.ndarray
    t: float
    scores: np.ndarray | None = None
    absent: np.ndarray | None = None  # (K,) frames each keypoint has been absent in a row

    def __post_init__(self) -> None:
        if self.absent is None:
            self.absent = np.zeros(len(self.keypoints), np.int64)


class PoseTracker:
    """Tracks people across frames and smooths their keypoints.

    smooth: "one-euro" (default), "kalman" or "none" (ids only, keypoints untouched).
    max_missed: frames a lost track is followed by its motion.
    associate: "identity" (default: motion, box overlap, keypoints and appearance in one cost, and a
      gallery of people who left; `identity.IdentityAssociator`, docs/tracking.md), "bytetrack"
      (ultralytics ByteTrack on the boxes) or "oks" (Hungarian on OKS/IoU against the previous poses).
      With "bytetrack", frames whose boxes came from the previous keypoints
      (`update(..., from_detector=False)`) use the OKS matcher.
    one_euro / kalman: keyword arguments for `OneEuroFilter` / `KeypointKalman`.
    identity: keyword arguments for `IdentityAssociator`: reid_memory (seconds a person who left keeps
      their id, default REID_MEMORY), appearance (bool, default True; needs `update(..., image=frame)`).
    """

    def __init__(self, smooth: str = RunConfig.smooth, max_missed: int = 30, associate: str = "identity",
                 min_score: float = MIN_SCORE, hide_after: int = HIDE_AFTER, score_cutoff: float = SCORE_CUTOFF,
                 one_euro: dict | None = None, kalman: dict | None = None, identity: dict | None = None) -> None:
        if smooth not in SMOOTHERS:
            raise ValueError(f"smooth must be one of {SMOOTHERS}, not {smooth!r}")
        if associate not in ASSOCIATORS:
            raise ValueError(f"associate must be one of {ASSOCIATORS}, not {associate!r}")
        self.smooth, self.max_missed, self.associate = smooth, int(max_missed), associate
        self.min_score, self.hide_after, self.score_cutoff = min_score, int(hide_after), score_cutoff
        self.one_euro, self.kalman, self.identity = dict(one_euro or {}), dict(kalman or {}), dict(identity or {})
        self.bytetrack = ByteTrackAssociator(max_missed=self.max_missed) if associate == "bytetrack" else None
        self.identifier = (IdentityAssociator(self._new_id, self.max_missed, **self.identity)
                           if associate == "identity" else None)
        self.matcher = KeypointMatcher(min_score=min_score)
        self.tracks: dict[int, _Track] = {}
        self._from_bytetrack: dict[int, int] = {}  # ByteTrack id -> our id
        self._next_id = 1
        self.frame = 0

    # ---------------------------------------------------------------- association
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _assign(self, poses: Poses, from_detector: bool, t: float, image: np.ndarray | None) -> np.ndarray:
        if self.identifier is not None:
            return self.identifier(poses, t, image)
        bt = self.bytetrack(poses.boxes, poses.box_scores) if self.bytetrack is not None else None
        if bt is not None and from_detector:
            ids = np.array([self._from_bytetrack.get(int(b), -1) if b >= 0 else -1 for b in bt], np.int64)
            for i in np.flatnonzero((bt >= 0) & (ids < 0)):
                ids[i] = self._from_bytetrack[int(bt[i])] = self._new_id()
            return ids
        live = list(self.tracks)
        empty = np.zeros((0, *poses.keypoints.shape[1:]))
        ids = self.matcher(poses.keypoints, poses.boxes,
                           np.stack([self.tracks[k].keypoints for k in live]) if live else empty,
                           np.stack([self.tracks[k].box for k in live]) if live else np.zeros((0, 4)),
                           np.asarray(live, np.int64))
        used = set(int(i) for i in ids if i >= 0)
        for i in np.flatnonzero(ids < 0):
            fallback = self._from_bytetrack.get(int(bt[i]), -1) if bt is not None and bt[i] >= 0 else -1
            ids[i] = fallback if fallback >= 0 and fallback not in used else self._new_id()
            used.add(int(ids[i]))
        if bt is not None:  # keep ByteTrack's ids pointing at the tracks the matcher chose
            for i in np.flatnonzero(bt >= 0):
                for b in [b for b, ours in self._from_bytetrack.items() if ours == ids[i]]:
                    del self._from_bytetrack[b]
                self._from_bytetrack[int(bt[i])] = int(ids[i])
        return ids

    def _drop_stale(self) -> None:
        stale = {k for k, tr in self.tracks.items() if self.frame - tr.last_frame > self.max_missed}
        for k in stale:
            del self.tracks[k]
        self._from_bytetrack = {b: k for b, k in self._from_bytetrack.items() if k in self.tracks}

    # ---------------------------------------------------------------- smoothing
    def _new_filter(self, num_points: int):
        if self.smooth == "one-euro":
            return OneEuroFilter(**self.one_euro)
        if self.smooth == "kalman":
            return KeypointKalman(**{"num_points": num_points, **self.kalman})
        return None

    def _smooth(self, track: _Track, kpts: np.ndarray, box: np.ndarray, t: float) -> np.ndarray:
        raw = kpts[:, 2].astype(np.float64)
        present = raw >= self.min_score
        track.absent = np.where(present, 0, track.absent + 1)
        hidden = track.absent > self.hide_after
        scale = float((box[2] - box[0] + box[3] - box[1]) / 2)
        if self.smooth == "one-euro":
            xy = track.filter(kpts[:, :2], t, scale=scale, mask=present)
        else:
            xy = track.filter(kpts[:, :2], t, scale=scale, scores=raw, mask=present)
        if track.scores is None:
            scores = raw.copy()
        else:
            dt = t - track.t if t > track.t else DEFAULT_DT
            scores = track.scores + smoothing_factor(dt, self.score_cutoff) * (raw - track.scores)
        scores = np.where(hidden, 0.0, scores)
        if hidden.any():  # hidden, not frozen: the filter forgets them, the raw position shows
            track.filter.reset(hidden)
            xy = np.where(hidden[:, None], kpts[:, :2], xy)
        track.scores = scores
        return np.concatenate([xy, scores[:, None]], axis=1).astype(np.float32)

    # ---------------------------------------------------------------- public
    def update(self, poses: Poses, t: float, from_detector: bool = True, image: np.ndarray | None = None) -> Poses:
        """Tracks and smooths one frame's poses taken at time `t` (seconds).

        from_detector: False when the boxes were derived from the previous frame's keypoints
        (then, with "bytetrack", the OKS matcher assigns ids). image: the frame (BGR) the poses are in;
        with "identity" it gives each person an appearance (without it, motion and keypoints decide).
        Returns the poses in input order with `track_ids` set (-1: a person not confirmed yet, left
        unsmoothed).
        """
        self.frame += 1
        ids = self._assign(poses, from_detector, float(t), image)
        out = poses.keypoints.copy()
        for i, tid in enumerate(ids):
            if tid < 0:
                continue
            track = self.tracks.get(int(tid))
            if track is None:
                track = self.tracks[int(tid)] = _Track(self._new_filter(len(out[i])), self.frame, out[i], poses.boxes[i], t)
            if self.smooth != "none":
                out[i] = self._smooth(track, poses.keypoints[i], poses.boxes[i], float(t))
            track.last_frame, track.keypoints, track.box, track.t = self.frame, out[i], poses.boxes[i], float(t)
        self._drop_stale()  # after this frame: tracks missed more than max_missed frames in a row
        return poses.with_(keypoints=out, track_ids=ids)

    def reset(self) -> None:
        """Forgets every track (a new video)."""
        self.__init__(self.smooth, self.max_missed, self.associate, self.min_score, self.hide_after,
                      self.score_cutoff, self.one_euro, self.kalman, self.identity)
