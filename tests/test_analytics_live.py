"""`video --exercise`: the live rep counters run inside the pipeline (overlay drawn on --out, counts printed);
a bad exercise is a one-line error before any model loads. The counting itself on real motion is in
test_analytics.py (LiveExercise fed the tracked YOLO11n-pose keypoints of squat.mp4)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from helpers import one_line_error
from transpose_live.analytics.live import label_origin
from transpose_live.cli import main


def _first_frame(path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_exercise_draws_and_prints_the_counts(common, squat24, tmp_path, capsys, one_thread):
    """The count label ("squat 0", green on a dark panel) is drawn by person #1's box in --out."""
    import json

    counted, poses = tmp_path / "counted.mp4", tmp_path / "p.jsonl"
    assert main(["video", str(squat24), "--max-frames", "2", "--codec", "mp4v", "--crf", "2", *common,
                 "--out", str(counted), "--exercise", "squat", "--json", str(poses)]) == 0
    err = capsys.readouterr().err
    assert "squat reps: #1 0" in err, err
    person = json.loads(poses.read_text().splitlines()[0])["persons"][0]
    image = _first_frame(counted).astype(int)
    lw = max(1, round(min(image.shape[:2]) / 240))
    x, y = label_origin(person["box"], lw)
    label = image[max(y - 14 * lw, 0):y + 2 * lw, x:x + 60 * lw]
    dark = (np.abs(label - 40).max(-1) < 25).mean()
    green = ((label[..., 1] > 150) & (label[..., 0] < 120) & (label[..., 2] < 120)).sum()
    assert dark > 0.3 and green > 20, (dark, green)


def test_bad_exercise_is_one_line_before_loading(common, squat24, tmp_path, capsys):
    rc = main(["video", str(squat24), "--exercise", "burpee", "--out", str(tmp_path / "o.mp4"), *common])
    one_line_error(capsys, 2, rc, "unknown exercise 'burpee'")
    assert not (tmp_path / "o.mp4").exists()
