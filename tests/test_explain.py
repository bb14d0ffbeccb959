"""Attention explanations: attention rows, map shapes, the panel PNG, errors (COCO-MINI image, fill.py weights)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from transpose_live.errors import UserError
from transpose_live.explain import explain, panel_grid, panel_size, parse_box, parse_keypoints
from transpose_live.explain.panel import GAP, LEGEND_H, TITLE_H
from transpose_live.keypoints import keypoint_index

from helpers import COCO_MINI, DETECTOR_WEIGHTS, filled_model, require_shared

IMAGE_ID = 397133  # a kitchen, one clearly visible standing person


@pytest.fixture(scope="module")
def person():
    """(image BGR, GT box xyxy (1,4)) of the largest annotated person of the image."""
    ann_path = require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json")
    data = json.loads(ann_path.read_text())
    info = next(i for i in data["images"] if i["id"] == IMAGE_ID)
    ann = max((a for a in data["annotations"] if a["image_id"] == IMAGE_ID), key=lambda a: a["area"])
    x, y, w, h = ann["bbox"]
    image = cv2.imread(str(COCO_MINI / "val2017" / info["file_name"]))
    assert image is not None
    return image, np.array([[x, y, x + w, y + h]], np.float32)


def estimator_for(name):
    from transpose_live.engine import PoseEstimator

    return PoseEstimator.from_module(filled_model(name), name, device="cpu", flip_test=False)


@pytest.fixture(scope="module")
def r_estimator():
    return estimator_for("tp_r_a4")


@pytest.fixture(scope="module")
def r_explained(r_estimator, person):
    image, box = person
    return explain(r_estimator, image, box, keypoints=parse_keypoints("nose,left_wrist,right_ankle"))


def test_model_attention_rows_sum_to_one(r_estimator):
    model = r_estimator.model
    with torch.inference_mode():
        _, attn = model(torch.randn(1, 3, 256, 192), return_attention=True)
    assert attn.shape == (1, 768, 768)
    torch.testing.assert_close(attn.sum(-1), torch.ones(1, 768), atol=1e-4, rtol=0)
    assert (attn >= 0).all()


def test_r_model_maps_are_token_grid_rows(r_explained):
    att = r_explained.poses.attention
    assert att.shape == (1, 17, 32, 24) and att.dtype == np.float32
    np.testing.assert_allclose(att.sum(axis=(2, 3)), 1.0, atol=1e-4)  # each map is one whole row
    assert (att >= 0).all()
    assert not np.allclose(att[0, 0], att[0, 0].mean())  # not a uniform map


@pytest.mark.slow
def test_h_model_maps_are_64x48(person):
    image, box = person
    result = explain(estimator_for("tp_h_s"), image, box, keypoints=[0])
    att = result.poses.attention
    assert att.shape == (1, 17, 64, 48)
    np.testing.assert_allclose(att.sum(axis=(2, 3)), 1.0, atol=1e-4)
    assert result.panel.shape[:2] == panel_size(1, 1)


def tile_origins(n_people, n_keypoints, cols=6):
    rows, cols = panel_grid(n_keypoints, cols)
    out = []
    for p in range(n_people):
        for k in range(1 + n_keypoints):
            r, c = divmod(k, cols)
            out.append((GAP + (p * rows + r) * (256 + TITLE_H + GAP), GAP + c * (192 + GAP)))
    return out


def test_panel_layout_and_content(r_explained, person):
    panel = r_explained.panel
    assert panel.shape == (*panel_size(1, 3), 3) == (GAP + 256 + TITLE_H + GAP + LEGEND_H, 4 * 192 + 5 * GAP, 3)
    image, box = person
    for y, x in tile_origins(1, 3):
        tile = panel[y + TITLE_H:y + TITLE_H + 256, x:x + 192].astype(int)
        assert tile.std() > 10  # a picture, not background
        title = panel[y:y + TITLE_H, x:x + 192]
        assert (title < 128).any()  # some title text
    # heat tiles are coloured (the crop itself is shown in grey under the heat)
    y, x = tile_origins(1, 3)[1]
    heat = panel[y + TITLE_H:y + TITLE_H + 256, x:x + 192].astype(int)
    assert np.abs(heat[..., 0] - heat[..., 2]).mean() > 20
    assert panel_grid(17) == (3, 6) and panel_size(2, 17)[1] == 6 * 192 + 7 * GAP


def test_threshold_hides_weak_attention(r_estimator, person):
    image, box = person
    result = explain(r_estimator, image, box, keypoints=[0], threshold=1.0)  # nothing reaches 1.0
    y, x = tile_origins(1, 1)[1]
    tile = result.panel[y + TITLE_H + 20:y + TITLE_H + 236, x + 20:x + 172].astype(int)  # away from the marker
    assert np.abs(tile[..., 0] - tile[..., 2]).max() <= 1  # plain grey: no heat


def test_baseline_model_is_a_clear_error(person):
    from transpose_live.models import model_info

    image, box = person
    est = SimpleNamespace(spec=model_info("simplebaseline_r50"))  # refused before any inference
    with pytest.raises(UserError, match="baseline without attention"):
        explain(est, image, box)


def test_keypoint_and_box_parsing():
    assert parse_keypoints("all") == list(range(17))
    assert parse_keypoints("left_wrist, nose,left_wrist") == [keypoint_index("left_wrist"), 0]
    with pytest.raises(UserError, match="unknown keypoint"):
        parse_keypoints("left_hand")
    np.testing.assert_allclose(parse_box("1,2,30,40"), [[1, 2, 30, 40]])
    for bad in ("1,2,3", "5,5,1,1", "a,b,c,d"):
        with pytest.raises(UserError, match="--box"):
            parse_box(bad)


# ---------------------------------------------------------------- the `explain` command
def cli(argv):
    from transpose_live.cli import main

    return main([str(a) for a in argv])


def image_path():
    return require_shared(COCO_MINI / "val2017" / f"{IMAGE_ID:012d}.jpg")


def test_explain_cli_writes_panel(filled_checkpoint, person, tmp_path, capsys):
    _, box = person
    out = tmp_path / "panel.png"
    box_text = ",".join(f"{v:.1f}" for v in box[0])
    code = cli(["explain", image_path(), "--box", box_text, "--model", "tp_r_a4",
                "--weights", filled_checkpoint("tp_r_a4"), "--device", "cpu",
                "--keypoints", "nose,left_wrist,right_knee,left_ankle,right_ankle,left_hip,right_hip",
                "--threshold", "0.001", "--out", out])
    assert code == 0, capsys.readouterr().err
    panel = cv2.imread(str(out))
    assert panel.shape == (*panel_size(1, 7), 3)  # 8 tiles: 6 + 2 in two rows
    assert panel_grid(7) == (2, 6)
    assert "token grid 32x24" in capsys.readouterr().out


def test_explain_cli_baseline_and_bad_input_errors(tmp_path, capsys):
    code = cli(["explain", image_path(), "--model", "hrnet_w32", "--weights", "random", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "baseline without attention" in err and "\n" not in err
    assert cli(["explain", tmp_path / "none.jpg", "--weights", "random", "--device", "cpu"]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert cli(["explain", image_path(), "--keypoints", "elbow", "--weights", "random", "--device", "cpu"]) == 2
    assert "unknown keypoint" in capsys.readouterr().err


@pytest.mark.slow
def test_explain_cli_whole_image_and_detector(filled_checkpoint, tmp_path):
    ckpt = filled_checkpoint("tp_r_a4")
    out = tmp_path / "whole.png"
    assert cli(["explain", image_path(), "--detector", "none", "--weights", ckpt, "--device", "cpu",
                "--keypoints", "nose", "--out", out]) == 0
    assert cv2.imread(str(out)).shape[:2] == panel_size(1, 1)
    if not DETECTOR_WEIGHTS.exists():
        pytest.skip(f"{DETECTOR_WEIGHTS} is absent")
    out = tmp_path / "detected.png"
    assert cli(["explain", image_path(), "--detector-weights", DETECTOR_WEIGHTS, "--max-persons", "2",
                "--weights", ckpt, "--device", "cpu", "--keypoints", "nose", "--out", out]) == 0
    h, w = cv2.imread(str(out)).shape[:2]
    assert (h, w) in (panel_size(1, 1), panel_size(2, 1))
