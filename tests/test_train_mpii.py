"""MPII: the HRNet-style JSON loader, PCKh against a direct numpy implementation, and fine-tuning a
17-keypoint checkpoint to the 16 MPII joints (made from coco-mini people) raising PCKh."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import COCO_MINI, coco_to_mpii, require_shared
from transpose_live.evaluation.pckh import pckh
from transpose_live.training.datasets import load_dataset
from transpose_live.training.keypoint_set import MPII16

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


def _direct_pckh(pred, gt, vis, head, alpha):
    """Textbook PCKh: loop over people and joints."""
    hits, counts = np.zeros(16), np.zeros(16)
    for i in range(len(pred)):
        for j in range(16):
            if vis[i, j]:
                counts[j] += 1
                d = np.sqrt((pred[i, j, 0] - gt[i, j, 0]) ** 2 + (pred[i, j, 1] - gt[i, j, 1]) ** 2)
                hits[j] += d <= alpha * head[i]
    groups = {"Head": [9], "Shoulder": [12, 13], "Elbow": [11, 14], "Wrist": [10, 15], "Hip": [2, 3],
              "Knee": [1, 4], "Ankle": [0, 5], "Mean": [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15]}
    return {k: 100 * hits[v].sum() / counts[v].sum() for k, v in groups.items()}


def test_mpii_loader_and_pckh_match_direct_numpy(tmp_path):
    require_shared(VAL_ANN)
    ann = coco_to_mpii(VAL_ANN, tmp_path / "mpii.json")
    entries = json.loads(ann.read_text())
    ds = load_dataset(ann, VAL_IMG, (64, 64))
    assert ds.kind == "mpii" and ds.keypoints == MPII16 and len(ds) == len(entries) >= 20
    rec, entry = ds.records[0], entries[0]
    np.testing.assert_allclose(rec.joints[:, :2], np.asarray(entry["joints"]) - 1)  # 1-based on disk
    assert np.isclose(rec.scale[1], entry["scale"] * 1.25)
    gt = np.stack([r.joints for r in ds.records])
    head = np.array([r.extra["head_size"] for r in ds.records])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, gt[..., :2].shape) * head[:, None, None]
    for alpha in (0.5, 0.1):
        pred = gt[..., :2] + noise * alpha * 0.8
        ours = pckh(pred, gt[..., :2], gt[..., 2], head, alpha)["table"]
        ref = _direct_pckh(pred, gt[..., :2], gt[..., 2] > 0, head, alpha)
        assert set(ours) == set(ref)
        for k in ref:
            assert np.isclose(ours[k], ref[k]), (k, ours[k], ref[k])
        assert 5 < ours["Mean"] < 95  # the perturbation puts joints on both sides of the threshold
    assert pckh(gt[..., :2], gt[..., :2], gt[..., 2], head)["table"]["Mean"] == 100.0


@pytest.mark.slow
def test_finetune_17_to_16_raises_pckh(tmp_path):
    """A 17-keypoint checkpoint fine-tuned on 16-joint MPII-format people: PCKh on them goes up.

    The 17-keypoint checkpoint is a seeded random COCO model (the conformance fill weights give
    near-constant features that take far longer to train than a CPU test allows)."""
    require_shared(VAL_ANN)
    from transpose_live.training.model_setup import build_training_model
    from transpose_live.training.samples import SampleGeometry
    from transpose_live.training.validate import estimator_for, keypoint_metrics

    entries = json.loads(coco_to_mpii(VAL_ANN, tmp_path / "all.json").read_text())
    (tmp_path / "mpii.json").write_text(json.dumps(entries[:6]))
    from transpose_live.training.model_setup import make_model

    torch.manual_seed(1)
    ckpt = tmp_path / "coco17.pth"
    torch.save(make_model("tp_r_a3").state_dict(), ckpt)
    ds = load_dataset(tmp_path / "mpii.json", VAL_IMG, (64, 64))
    torch.manual_seed(0)  # the run below seeds the same way before building its model
    before_model, _ = build_training_model("tp_r_a3", 16, (64, 64), str(ckpt))
    estimator = estimator_for(before_model, "tp_r_a3", ds, SampleGeometry((64, 64), (16, 16), 2.0),
                              torch.device("cpu"), flip_test=False)  # the inference path `eval` takes
    before = keypoint_metrics(estimator, ds)["PCKh"]

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "transpose_live", "train", "--model", "tp_r_a3", "--train-images", str(VAL_IMG),
           "--train-annotations", str(tmp_path / "mpii.json"), "--init", str(ckpt), "--input-size", "64x64",
           "--epochs", "1", "--repeat", "60", "--batch-size", "6", "--lr", "3e-4", "--no-augment", "--device", "cpu",
           "--workers", "0", "--threads", "1", "--no-progress", "--out", str(run)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kept 187/190 tensors; re-initialised 3" in done.stderr
    meta = torch.load(run / "best.pth", weights_only=True)["meta"]
    assert meta["keypoint_names"] == list(MPII16.names) and meta["dataset_kind"] == "mpii"

    ev = subprocess.run([sys.executable, "-m", "transpose_live", "eval", "--images", str(VAL_IMG), "--annotations",
                         str(tmp_path / "mpii.json"), "--weights", str(run / "best.pth"), "--device", "cpu",
                         "--no-flip-test", "--metrics-out", str(tmp_path / "m.json")], capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert "PCKh" in ev.stdout and "Shoulder" in ev.stdout
    after = json.loads((tmp_path / "m.json").read_text())["metrics"]["PCKh"]
    assert after > before + 10, (before, after)
    print(f"PCKh@0.5 before {before:.1f}, after {after:.1f}")


def test_head_sizes_from_official_gt_valid_mat(tmp_path):
    """Without 'headbox' entries, head sizes come from gt_valid.mat (headboxes_src) beside the JSON."""
    require_shared(VAL_ANN)
    from scipy.io import savemat

    entries = json.loads(coco_to_mpii(VAL_ANN, tmp_path / "with.json").read_text())
    boxes = np.asarray([e.pop("headbox") for e in entries], np.float64)  # (N, 4) x1 y1 x2 y2
    folder = tmp_path / "annot"
    folder.mkdir()
    (folder / "valid.json").write_text(json.dumps(entries))
    corners = np.stack([boxes[:, :2].T, boxes[:, 2:].T])  # (2 corners, 2 xy, N) as in the official file
    savemat(folder / "gt_valid.mat", {"headboxes_src": corners})
    with_box = load_dataset(tmp_path / "with.json", VAL_IMG, (64, 64))
    from_mat = load_dataset(folder / "valid.json", VAL_IMG, (64, 64))
    for a, b in zip(with_box.records, from_mat.records):
        assert np.isclose(a.extra["head_size"], b.extra["head_size"])

