"""A custom keypoint set: a 5-keypoint COCO file (names only, no flip pairs) trains with flip
augmentation through the pairs derived from the names, validates by loss and saves its set in the checkpoint."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from helpers import COCO_MINI, coco_subset, require_shared, single_person_images
from transpose_live.training import TrainConfig, train

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"
KEEP = (0, 5, 6, 11, 12)  # nose, shoulders, hips (COCO indices)


def test_five_keypoint_set_trains_with_derived_flip_pairs(tmp_path, one_thread):
    require_shared(VAL_ANN)
    data = json.loads(coco_subset(VAL_ANN, tmp_path / "four.json", single_person_images(VAL_ANN, count=4)).read_text())
    for ann in data["annotations"]:
        k = ann["keypoints"]
        ann["keypoints"] = [v for i in KEEP for v in k[3 * i:3 * i + 3]]
        ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
        ann["category_id"] = 7
    names = ["Nose", "Left Shoulder", "Right Shoulder", "Left Hip", "Right Hip"]
    data["categories"] = [{"id": 7, "name": "torso", "keypoints": names, "skeleton": [[2, 3], [2, 4], [3, 5], [4, 5]]}]
    ann_path = tmp_path / "torso.json"
    ann_path.write_text(json.dumps(data))
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
