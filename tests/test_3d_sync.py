"""Pairing the frames of per-camera poses files (`triangulate --sync frame|timestamp --offset`)."""

from __future__ import annotations

import numpy as np
import pytest

from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17
from transpose_live.pose_files import PoseRecording
from transpose_live.poses import Poses
from transpose_live.triangulation.sync import make_ticks


def recording(frames, times) -> PoseRecording:
    return PoseRecording(np.asarray(frames), np.asarray(times, float), [Poses.empty() for _ in frames], COCO17)


def test_timestamp_sync_pairs_within_half_a_period_and_reports_skew():
    a = recording(range(10), np.arange(10) / 30)
    b = recording(range(10), np.arange(10) / 30 + 0.004)  # 4 ms late
    c = recording(range(5), np.arange(5) / 15)  # every second frame only
    ticks = make_ticks([a, b, c], ["a", "b", "c"], "timestamp")
    assert len(ticks) == 10
    assert all(abs(t.skew - 0.004) < 1e-9 for t in ticks[::2] if t.views[2][2] is not None)
    assert [t.views[2][2] is not None for t in ticks] == [True] * 10  # c's period is 1/15: half = 33 ms
    ticks = make_ticks([a, b], ["a", "b"], "timestamp", [0.0, -0.5])  # b shifted out of range
    assert all(t.views[1][2] is None for t in ticks)


def test_frame_sync_with_offsets():
    a, b = recording(range(10), np.arange(10) / 30), recording(range(10), np.arange(10) / 30)
    ticks = make_ticks([a, b], ["a", "b"], "frame", [0, 2])
    assert [t.views[1][1] for t in ticks[:3]] == pytest.approx([2 / 30, 3 / 30, 4 / 30])
    assert ticks[-1].views[1][2] is None  # frame 11 of b does not exist
    with pytest.raises(UserError):
        make_ticks([a, b], ["a", "b"], "frame", [0])
    with pytest.raises(UserError):
        make_ticks([a, b], ["a", "b"], "nearest")
