"""fp16 / bf16 conformance on the real inference path, judged by what users see (issue #25).

A briefly trained tp_r_a3 (peaked heatmaps, as trained weights give; fill weights give flat maps whose
argmax a rounding can move anywhere) runs through `PoseEstimator` in fp32, fp16 and bf16: BatchNorm
folded, the module cast with `.half()`/`.bfloat16()`, channels-last, DARK decoding (no flip test: the model
trained without flips; the flip path is covered by test_gpu_path.py); the
same code CUDA runs, on the CPU. Keypoints must agree with fp32 to a fraction of a heatmap pixel and
the COCO AP (pycocotools) must not move. Measured numbers: docs/gpu.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import COCO_MINI, coco_subset, require_shared, single_person_images
from transpose_live.engine import PoseEstimator
from transpose_live.engine.boxes import crop_regions
from transpose_live.engine.precision import cpu_half_allowed
from transpose_live.evaluation.boxes_source import gt_person_boxes, load_coco
from transpose_live.evaluation.evaluate import evaluate_dataset
from transpose_live.training import TrainConfig, train

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"
STEPS = 120  # 4 people, batch 4, 64x48, cosine 3e-4 -> 3e-5 over 2 epochs: AP ~0.9, peaked heatmaps


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    require_shared(VAL_ANN)
    tmp = tmp_path_factory.mktemp("fp16")
    ann = coco_subset(VAL_ANN, tmp / "four.json", single_person_images(VAL_ANN, count=4))
    cfg = TrainConfig(model="tp_r_a3", train_images=str(VAL_IMG), train_annotations=str(ann), init="random",
                      epochs=2, batch_size=4, lr=3e-4, input_size=(64, 48), device="cpu", workers=0,
                      repeat=STEPS // 2, augment=False, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, tmp / "run", progress=False)
    finally:
        torch.set_num_threads(before)
    return tmp / "run" / "last.pth", ann


def _evaluate(weights, ann, precision: str, device: str = "cpu"):
    with cpu_half_allowed():
        # no flip test: the model was trained without flips (the flip path is tested in test_gpu_path.py)
        est = PoseEstimator(weights=str(weights), device=device, precision=precision, flip_test=False)
    assert est.precision == precision and est.spec.input_size == (64, 48)
    coco = load_coco(ann)
    out = evaluate_dataset(est, coco, VAL_IMG, gt_person_boxes(coco), progress=False, workers=0)
    keypoints = {r["image_id"]: np.asarray(r["keypoints"], np.float64).reshape(-1, 3) for r in out.results}
    return est, out.metrics["AP"], keypoints


def _heatmap_pixel(ann) -> dict[int, float]:
    """Per image: one heatmap pixel in image pixels (the crop region's width / heatmap width)."""
    coco = load_coco(ann)
    out = {}
    for a in coco.dataset["annotations"]:
        x, y, w, h = a["bbox"]
        region = crop_regions(np.array([[x, y, x + w, y + h]]), 48 / 64)[0]
        out[a["image_id"]] = (region[2] - region[0]) / 12  # 64x48 crop -> 16x12 heatmap
    return out


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU")])])
def test_fp16_and_bf16_keypoints_and_ap_match_fp32(trained, device):
    weights, ann = trained
    _, ref_ap, ref = _evaluate(weights, ann, "fp32", device)
    print(f"{device} fp32 AP {ref_ap:.4f}")
    assert ref_ap >= 0.7, ref_ap  # the model learned: its heatmaps are peaked, as trained weights are
    pixel = _heatmap_pixel(ann)
    # (precision, worst keypoint, median keypoint in heatmap px, AP change, score change); bf16 keeps 8 mantissa
    # bits to fp16's 11: measured here fp16 0.01 px worst, AP unchanged; bf16 1.2 px worst, AP -0.017
    for precision, max_px, median_px, ap_tol, score_tol in (("fp16", 0.25, 0.05, 0.01, 0.01),
                                                              ("bf16", 2.0, 0.25, 0.05, 0.05)):
        if device == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
            continue
        _, ap, got = _evaluate(weights, ann, precision, device)
        assert sorted(got) == sorted(ref)
        errors = np.concatenate([np.linalg.norm(kp[:, :2] - ref[i][:, :2], axis=1) / pixel[i] for i, kp in got.items()])
        worst_score = max(np.abs(kp[:, 2] - ref[i][:, 2]).max() for i, kp in got.items())
        print(f"{device} {precision}: keypoints median {np.median(errors):.3f} / max {errors.max():.3f} heatmap px, "
              f"worst score {worst_score:.4f}, AP {ap:.4f} vs fp32 {ref_ap:.4f}")
        assert errors.max() < max_px and np.median(errors) < median_px, (precision, np.median(errors), errors.max())
        assert worst_score < score_tol, (precision, worst_score)
        assert abs(ap - ref_ap) <= ap_tol, (precision, ap, ref_ap)
