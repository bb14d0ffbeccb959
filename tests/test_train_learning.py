"""Learning works end to end: a few coco-mini people, `train --init random` for a fixed number of steps,
then `eval` (the project's COCO evaluator, pycocotools) on the same people gives AP >= 0.8."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from helpers import COCO_MINI, coco_subset, require_shared, single_person_images

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"
STEPS = 120  # 4 people, batch 4, cosine 3e-4 -> 3e-5 (AP ~0.94 here; ~0.7 after 60 steps)


@pytest.mark.slow
def test_memorises_a_few_people_to_high_ap(tmp_path):
    require_shared(VAL_ANN)
    ann = coco_subset(VAL_ANN, tmp_path / "four.json", single_person_images(VAL_ANN, count=4))
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "transpose_live"]
    train = subprocess.run(
        [*base, "train", "--model", "tp_r_a3", "--train-images", str(VAL_IMG), "--train-annotations", str(ann),
         "--val-images", str(VAL_IMG), "--val-annotations", str(ann), "--init", "random", "--input-size", "64x48",
         "--batch-size", "4", "--repeat", str(STEPS // 2), "--epochs", "2", "--lr", "3e-4", "--no-augment",
         "--device", "cpu", "--workers", "0", "--threads", "1", "--no-progress", "--out", str(run)],
        capture_output=True, text=True, timeout=600, env=env)
    assert train.returncode == 0, train.stderr[-2000:]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [STEPS // 2, STEPS]
    assert float(rows[-1]["train_loss"]) < 0.3 * float(rows[0]["train_loss"])  # epoch means

    metrics = tmp_path / "metrics.json"
    ev = subprocess.run(
        [*base, "eval", "--images", str(VAL_IMG), "--annotations", str(ann), "--gt-boxes", "--model", "tp_r_a3",
         "--weights", str(run / "best.pth"), "--device", "cpu", "--no-flip-test", "--no-progress",
         "--metrics-out", str(metrics)], capture_output=True, text=True, timeout=600, env=env)
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(metrics.read_text())
    assert result["people"] == 4
    assert result["metrics"]["AP"] >= 0.8, result["metrics"]
    assert abs(float(rows[-1]["AP"]) - result["metrics"]["AP"]) < 1e-6  # the run's validation is the same evaluator
