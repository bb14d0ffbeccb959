"""Training parts: keypoint sets, crops in the inference convention, targets that decode back to the
joints, flip with joint swap, loss, transfer between keypoint counts, run folder rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import COCO_MINI, require_shared
from transpose_live.engine.boxes import crop_affine
from transpose_live.engine.decode import decode
from transpose_live.engine.flip import merge_flipped
from transpose_live.errors import UserError
from transpose_live.training.affine import apply_matrix, crop_matrix
from transpose_live.training.augmentation import AugmentConfig, CropParams, draw_crop
from transpose_live.training.datasets import load_dataset
from transpose_live.training.keypoint_set import COCO17, MPII16, derive_flip_pairs, from_coco_category
from transpose_live.training.loss import joints_mse_loss
from transpose_live.training.model_setup import build_training_model, freeze_backbone
from transpose_live.training.run_dir import check_new_run_dir
from transpose_live.training.samples import SampleGeometry, TrainingSamples, make_sample

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


def test_flip_pairs_derived_from_names():
    assert derive_flip_pairs(COCO17.names) == COCO17.flip_pairs
    assert derive_flip_pairs(MPII16.names) == MPII16.flip_pairs
    assert derive_flip_pairs(["Nose", "Left Eye", "Right Eye", "hand_l", "hand_r", "tail"]) == ((1, 2), (3, 4))
    cat = {"keypoints": ["head", "left_paw", "right_paw"], "skeleton": [[1, 2], [1, 3]]}
    kset = from_coco_category(cat)
    assert kset.flip_pairs == ((1, 2),) and kset.skeleton == ((0, 1), (0, 2))
    assert from_coco_category(dict(cat, flip_pairs=[[0, 1]])).flip_pairs == ((0, 1),)


def test_crop_matrix_is_the_inference_transform():
    center = torch.tensor([[320.5, 211.0]], dtype=torch.float64)
    scale = torch.tensor([[1.3, 1.7333]], dtype=torch.float64)
    for size in ((256, 192), (64, 48), (128, 96)):
        expected = crop_affine(center, scale, size)[0].numpy()
        np.testing.assert_allclose(crop_matrix(center[0].numpy(), scale[0].numpy(), size), expected, atol=1e-9)
    m = crop_matrix(center[0].numpy(), scale[0].numpy(), (256, 192), rotation_deg=30, mirror=True)
    np.testing.assert_allclose(apply_matrix(m, center[0].numpy()[None]), [[95.5, 127.5]], atol=1e-9)


@pytest.fixture(scope="module")
def coco_val():
    require_shared(VAL_ANN)
    return load_dataset(VAL_ANN, VAL_IMG, (256, 192))


def test_targets_decode_back_to_the_joints(coco_val):
    """Gaussian targets run through the engine's DARK decoder land on the annotated joints."""
    geom = SampleGeometry((256, 192), (64, 48), 2.0)
    record = max(coco_val.records, key=lambda r: r.joints[:, 2].sum())
    image = np.zeros((640, 640, 3), np.uint8)
    crop, maps, weights = make_sample(image, record, CropParams(record.center, record.scale), coco_val.keypoints, geom)
    assert crop.shape == (3, 256, 192) and maps.shape == (17, 64, 48)
    center = torch.tensor(record.center[None]), torch.tensor(record.scale[None])
    coords, maxvals = decode(maps[None], *center, "dark")
    ok = weights.numpy() > 0
    assert ok.sum() >= 12
    err = np.abs(coords[0].numpy()[ok] - record.joints[ok, :2]).max()
    assert err < 0.1, err  # pixels of the frame
    # the Gaussian is sampled at the joint's sub-pixel place: its highest sample is >= exp(-0.5^2 * 2 / (2 * 2^2))
    assert (maxvals[0].numpy()[ok] >= np.exp(-0.0625) - 1e-4).all() and (maxvals[0].numpy()[ok] <= 1 + 1e-4).all()


def test_mirrored_sample_swaps_joints(coco_val):
    geom = SampleGeometry((256, 192), (64, 48), 2.0)
    record = max(coco_val.records, key=lambda r: r.joints[:, 2].sum())
    import cv2

    image = cv2.imread(str(record.image))
    plain = make_sample(image, record, CropParams(record.center, record.scale), COCO17, geom)
    mirrored = make_sample(image, record, CropParams(record.center, record.scale, 0.0, True), COCO17, geom)
    diff = (mirrored[0] - plain[0].flip(-1)).abs()  # the crop is mirrored (warpAffine rounds to 1/32 px)
    assert diff.mean() < 0.01 and diff.max() < 0.3, (diff.mean(), diff.max())
    back = merge_flipped(torch.stack((plain[1], mirrored[1])), False, COCO17.flip_permutation())
    assert torch.allclose(back[0], plain[1], atol=1e-5)  # its targets map back to the unmirrored ones
    assert torch.equal(mirrored[2][COCO17.flip_permutation()], plain[2])


def test_augmentation_draws_depend_on_seed_epoch_index(coco_val):
    geom = SampleGeometry((128, 96), (32, 24), 1.0)
    samples = TrainingSamples(coco_val.records[:3], COCO17, geom, AugmentConfig(), seed=5)
    a = samples[1][0]
    samples.set_epoch(1)
    b = samples[1][0]
    samples.set_epoch(0)
    assert torch.equal(samples[1][0], a) and not torch.equal(a, b)
    rng = np.random.default_rng(0)
    rec = coco_val.records[0]
    draws = [draw_crop(rec.center, rec.scale, rec.joints, COCO17, 0.75, AugmentConfig(), rng) for _ in range(300)]
    ratios = np.array([d.scale[1] / rec.scale[1] for d in draws if not np.allclose(d.center, rec.center)])
    rots = np.array([d.rotation for d in draws])
    assert 0.45 < (rots != 0).mean() < 0.75 and np.abs(rots).max() <= 45
    assert 0.35 < np.mean([d.mirror for d in draws]) < 0.65
    assert len(ratios) > 0  # half-body crops happen (this person has more than 8 visible joints)


def test_loss_is_half_weighted_mse():
    pred, target = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    weight = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    manual = 0.5 * (((pred - target) ** 2) * weight[:, :, None, None] ** 2).mean()
    assert torch.allclose(joints_mse_loss(pred, target, weight), manual)


def test_transfer_17_to_16_keeps_all_but_the_final_layer(filled_checkpoint):
    path = filled_checkpoint("tp_r_a3")
    model, report = build_training_model("tp_r_a3", 16, (128, 128), str(path))
    assert model.final_layer.out_channels == 16
    src = torch.load(path, weights_only=True)
    own = model.state_dict()
    assert torch.equal(own["layer2.0.conv2.weight"], src["layer2.0.conv2.weight"])
    assert set(report.reinitialised) == {"final_layer.weight", "final_layer.bias", "pos_embedding"}
    assert "kept 187/190" in report.line() and "re-initialised 3" in report.line()
    frozen = freeze_backbone(model, "transpose_r")
    assert frozen > 0 and not model.conv1.weight.requires_grad and model.final_layer.weight.requires_grad
    assert model.global_encoder.layers[0].linear1.weight.requires_grad
    with pytest.raises(UserError, match="does not fit"):
        build_training_model("hrnet_w32", 17, (256, 192), str(path))


def test_datasets_refuse_bad_input(tmp_path, coco_val):
    data = json.loads(VAL_ANN.read_text())
    no_kpts = dict(data, annotations=[dict(a, keypoints=[0] * 51, num_keypoints=0) for a in data["annotations"]])
    (tmp_path / "nokp.json").write_text(json.dumps(no_kpts))
    with pytest.raises(UserError, match="no annotations with keypoints"):
        load_dataset(tmp_path / "nokp.json", VAL_IMG, (256, 192))
    empty_dir = tmp_path / "imgs"
    empty_dir.mkdir()
    with pytest.raises(UserError, match=r"\d+ image\(s\) .* missing"):
        load_dataset(VAL_ANN, empty_dir, (256, 192))
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="already exists"):
        check_new_run_dir(run, overwrite=False)
    assert (run / "keep.txt").read_text() == "x"
