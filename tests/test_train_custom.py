"""A custom keypoint set: a 5-keypoint COCO file (names only, no flip pairs) trains with flip
augmentation through the pairs derived from the names, validates by loss and saves its set in the checkpoint."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from helpers import COCO_MINI, TORSO_NAMES, cli, require_shared, torso_annotations
from transpose_live.training import TrainConfig, train

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_five_keypoint_set_trains_with_derived_flip_pairs(tmp_path, one_thread):
    require_shared(VAL_ANN)
    ann_path = torso_annotations(VAL_ANN, tmp_path / "torso.json")
    names = TORSO_NAMES
    cfg = TrainConfig(model="tp_r_a3", train_images=str(VAL_IMG), train_annotations=str(ann_path),
                      val_images=str(VAL_IMG), val_annotations=str(ann_path), init="random", epochs=2, batch_size=4,
                      lr=3e-4, input_size=(64, 48), device="cpu", workers=0, repeat=2)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.metric is None  # no COCO AP / PCKh for this set: the validation loss picks best.pth
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert len(rows) == 2 and all(float(r["val_loss"]) > 0 for r in rows) and "AP" not in rows[0]
    ckpt = torch.load(tmp_path / "run" / "best.pth", weights_only=True)
    assert ckpt["meta"]["keypoint_names"] == names and ckpt["meta"]["flip_pairs"] == [[1, 2], [3, 4]]
    assert ckpt["meta"]["skeleton"] == [[1, 2], [1, 3], [2, 4], [3, 4]]
    assert ckpt["state_dict"]["final_layer.weight"].shape[0] == 5
    best_epoch = ckpt["meta"]["epoch"]
    assert float(rows[best_epoch - 1]["val_loss"]) == pytest.approx(min(float(r["val_loss"]) for r in rows), rel=1e-4)

    # the run's checkpoint, as it is, in `eval` on data of its own set (COCO AP with uniform OKS sigmas)
    metrics = tmp_path / "metrics.json"
    done = cli("eval", "--images", VAL_IMG, "--annotations", ann_path, "--gt-boxes", "--weights",
               tmp_path / "run" / "best.pth", "--device", "cpu", "--metrics-out", metrics, "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(metrics.read_text())
    assert result["people"] == 4 and 0.0 <= result["metrics"]["AP"] <= 1.0
