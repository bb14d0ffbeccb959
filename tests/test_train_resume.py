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


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
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


def test_resume_with_more_epochs_extends_the_run(tmp_path, one_thread):
    """`--resume RUN --epochs N` with a larger N trains on to N epochs, the cosine stretched to the new length;
    a smaller N than the epochs done is refused in one line."""
    import math

    require_shared(VAL_ANN)
    ann = coco_subset(VAL_ANN, tmp_path / "two.json", single_person_images(VAL_ANN, count=2))
    cfg = _config(ann, epochs=1)
    first = train(cfg, tmp_path / "run", progress=False)
    assert len(first.history) == 1
    again = train(cfg, tmp_path / "run", resume=True, progress=False)  # same length: nothing more to do
    assert len(again.history) == 1
    longer = train(cfg, tmp_path / "run", resume=True, progress=False, epochs=3)
    assert [r["epoch"] for r in longer.history] == [1, 2, 3]
    state = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    steps = 2  # 2 people x repeat 2 / batch 2
    assert state["config"]["epochs"] == 3 and state["scheduler"]["T_max"] == 3 * steps
    assert state["scheduler"]["last_epoch"] == 3 * steps
    lr, lr_end = cfg.lr, cfg.lr / 10
    for row in longer.history[1:]:  # each epoch's first lr lies on the 3-epoch cosine
        step = (row["epoch"] - 1) * steps
        assert math.isclose(row["lr"], lr_end + (lr - lr_end) * (1 + math.cos(math.pi * step / (3 * steps))) / 2)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    with pytest.raises(UserError, match="cannot shorten"):
        train(cfg, tmp_path / "run", resume=True, progress=False, epochs=2)
