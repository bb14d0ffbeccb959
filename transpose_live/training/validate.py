"""Validation after an epoch: loss on the validation people, plus COCO AP (the project's evaluator,
ground-truth boxes) for COCO-17 data or PCKh@0.5 (and 0.1) for MPII data."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from transpose_live.training.datasets import PoseDataset
from transpose_live.training.samples import SampleGeometry


def headline_metric(dataset: PoseDataset | None) -> str | None:
    """Name of the number that picks best.pth (higher is better); None: the validation loss decides."""
    if dataset is None:
        return None
    if uses_coco_ap(dataset):
        return "AP"
    if dataset.kind == "mpii" and all("head_size" in r.extra for r in dataset.records):
        return "PCKh"
    return None


def uses_coco_ap(dataset: PoseDataset) -> bool:
    from transpose_live.training.keypoint_set import COCO17

    return dataset.kind == "coco" and dataset.keypoints.names == COCO17.names


def coco_ap(model: nn.Module, model_name: str, dataset: PoseDataset, geom: SampleGeometry, device,
            batch: int = 64, flip_test: bool = True) -> dict[str, float]:
    """The ten COCO keypoint numbers with ground-truth boxes, through `PoseEstimator` + `evaluate_dataset`."""
    from transpose_live.engine import PoseEstimator
    from transpose_live.evaluation import evaluate_dataset, gt_person_boxes, load_coco
    from transpose_live.models import model_info

    spec = model_info(model_name).resized(geom.input_size, geom.heatmap_size)
    was_training = model.training
    estimator = PoseEstimator.from_module(model, spec, device=device, half=False, flip_test=flip_test,
                                          max_batch=batch, channels_last=False)
    coco = load_coco(dataset.annotations)
    outcome = evaluate_dataset(estimator, coco, dataset.images_dir, gt_person_boxes(coco),
                               people_per_batch=batch, progress=False, workers=2)
    model.train(was_training)
    return outcome.metrics


def mpii_pckh(keypoints: np.ndarray, dataset: PoseDataset) -> dict[str, float]:
    from transpose_live.evaluation.pckh import pckh

    gt = np.stack([r.joints for r in dataset.records])
    head = np.asarray([r.extra["head_size"] for r in dataset.records])
    out = {}
    for alpha, name in ((0.5, "PCKh"), (0.1, "PCKh@0.1")):
        res = pckh(keypoints[..., :2], gt[..., :2], gt[..., 2], head, alpha)
        out[name] = float(res["table"]["Mean"])
        if alpha == 0.5:
            out.update({f"PCKh_{k}": float(v) for k, v in res["table"].items() if k != "Mean"})
    return out


def validate(model: nn.Module, model_name: str, family: str, dataset: PoseDataset, geom: SampleGeometry,
             device: torch.device, batch: int = 32, flip_test: bool = True) -> dict[str, float]:
    """flip_test: average with the mirrored crop (only meaningful when training used flip augmentation)."""
    from transpose_live.training.predict import predict_records

    keypoints, val_loss = predict_records(model, dataset.records, dataset.keypoints, geom, device, batch,
                                          flip_test=flip_test, shift_flipped=not family.startswith("transpose"))
    metrics = {"val_loss": val_loss}
    if uses_coco_ap(dataset):
        metrics.update(coco_ap(model, model_name, dataset, geom, device, batch, flip_test))
    elif headline_metric(dataset) == "PCKh":
        metrics.update(mpii_pckh(keypoints, dataset))
    return metrics
