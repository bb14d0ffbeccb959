"""`--resume` continues exactly: an interrupted run resumed gives the same weights as an uninterrupted one
(CPU, augmentation and dropout on, so the data order, augmentation draws and RNG state must all be restored)."""

from __future__ import annotations

import csv

import pytest
import torch

from helpers import COCO_MINI, coco_subset, require_shared, single_person_images
from transpose_live.errors import UserError
from transpose_live.training import TrainConfig, train

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


def _config(ann, **kw) -> TrainConfig:
    base = dict(model="tp_r_a3", train_images=str(VAL_IMG), train_annotations=str(ann), init="random", epochs=3,
                batch_size=2, lr=1e-3, input_size=(64, 48), device="cpu", workers=0, repeat=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, one_thread):
    require_shared(VAL_ANN)
    ann = coco_subset(VAL_ANN, tmp_path / "two.json", single_person_images(VAL_ANN, count=2))
    train(_config(ann), tmp_path / "full", progress=False)
    part = train(_config(ann), tmp_path / "part", progress=False, stop_after_epoch=1)
    assert len(part.history) == 1
    with pytest.raises(UserError, match="already exists"):
        train(_config(ann), tmp_path / "part", progress=False)
    resumed = train(_config(ann, workers=1), tmp_path / "part", resume=True, progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a = torch.load(tmp_path / "full" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "part" / "last.pth", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 3 * 2
    losses = [[row["train_loss"] for row in csv.DictReader(open(p / "metrics.csv"))]
              for p in (tmp_path / "full", tmp_path / "part")]
    assert losses[0] == losses[1] and len(losses[0]) == 3
    assert (tmp_path / "part" / "curves.png").stat().st_size > 1000
    meta = b["meta"]
    assert meta["model"] == "tp_r_a3" and meta["input_size"] == [64, 48] and len(meta["keypoint_names"]) == 17
    assert meta["flip_pairs"][0] == [1, 2] and [15, 13] in meta["skeleton"]
