"""Repetition counting: a small state machine per track and side, fed one angle sample at a time (the same
code counts a file in `analyze` and a live stream in `video` / `webcam`).

States: unknown (until the angle is first seen at rest: a person who starts mid-rep is not counted half)
-> rest -> active (the angle crossed the exercise's active threshold) -> rest again = one rep, if it took at
least `min_duration` seconds. Between the thresholds nothing changes state (hysteresis). A NaN angle (a
keypoint below --kpt-thr, a dropout) is skipped: the state is held, so a dropout mid-rep neither adds nor
loses a rep. A rep starts at the last sample at rest before the movement and ends at the first one back
at rest; its min / max angle are over that span.

Sides: `left` / `right` count that side; `both` counts each side on its own (alternating curls or lunges;
the events say which side); `auto` counts both and reports the side with more measured samples (ties:
the larger range of motion so far), the side whose keypoints the camera sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transpose_live.analytics.exercises import Exercise

SIDE_NAMES = {-1: "left", 1: "right", 0: "none"}


@dataclass(frozen=True)
class Rep:
    track_id: int
    side: int
    start: float
    end: float
    min_angle: float
    max_angle: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def event(self, exercise: str) -> dict:
        """The JSONL event: type, exercise, track_id, side, start, end (s), min/max angle (deg), duration (s)."""
        return {"type": "rep", "exercise": exercise, "track_id": self.track_id, "side": SIDE_NAMES[self.side],
                "start": round(self.start, 4), "end": round(self.end, 4), "min_angle": round(self.min_angle, 2),
                "max_angle": round(self.max_angle, 2), "duration": round(self.duration, 4)}


class SideCounter:
    """The state machine of one angle series (one track, one side)."""

    def __init__(self, exercise: Exercise, track_id: int, side: int) -> None:
        self.exercise, self.track_id, self.side = exercise, track_id, side
        self.state: str | None = None
        self.rest_t = self.start = 0.0
        self.lo = self.hi = math.nan
        self.reps: list[Rep] = []
        self.samples = 0
        self.range = (math.inf, -math.inf)

    def update(self, t: float, angle: float) -> Rep | None:
        """Feeds one sample; returns the rep it completed, if any."""
        if angle is None or math.isnan(angle):
            return None
        self.samples += 1
        self.range = (min(self.range[0], angle), max(self.range[1], angle))
        ex = self.exercise
        if self.state is None or (self.state == "rest" and ex.at_rest(angle)):
            if ex.at_rest(angle):
                self.state, self.rest_t, self.lo, self.hi = "rest", t, angle, angle
            return None
        self.lo, self.hi = min(self.lo, angle), max(self.hi, angle)
        if self.state == "rest":
            if ex.is_active(angle):
                self.state, self.start = "active", self.rest_t
            return None
        if not ex.at_rest(angle):
            return None
        rep = Rep(self.track_id, self.side, self.start, t, self.lo, self.hi)
        self.state, self.rest_t, self.lo, self.hi = "rest", t, angle, angle
        if rep.duration + 1e-9 < ex.min_duration:
            return None
        self.reps.append(rep)
        return rep


class RepCounter:
    """The counters of one track: `update(t, {side: angle})` per frame; `reps` and `count` so far."""

    def __init__(self, exercise: Exercise, track_id: int, sides: tuple[int, ...]) -> None:
        self.exercise = exercise
        wanted = {"left": (-1,), "right": (1,)}.get(exercise.side, sides) if sides != (0,) else sides
        self.counters = {s: SideCounter(exercise, track_id, s) for s in sides if s in wanted}

    def update(self, t: float, angles: dict[int, float]) -> list[Rep]:
        done = []
        for side, counter in self.counters.items():
            rep = counter.update(t, angles.get(side, math.nan))
            if rep is not None:
                done.append(rep)
        return done

    def chosen(self) -> list[SideCounter]:
        """The counters whose reps count: all for `both`, the best-seen side for `auto`."""
        counters = list(self.counters.values())
        if self.exercise.side != "auto" or len(counters) < 2:
            return counters
        return [max(counters, key=lambda c: (c.samples, c.range[1] - c.range[0]))]

    @property
    def reps(self) -> list[Rep]:
        return sorted((r for c in self.chosen() for r in c.reps), key=lambda r: r.start)

    @property
    def count(self) -> int:
        return sum(len(c.reps) for c in self.chosen())
