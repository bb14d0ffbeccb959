"""Validation after an epoch: the loss on the validation people (unaugmented training crops and targets),
plus, through the inference path (`engine.PoseEstimator` + the evaluation layer), COCO AP with ground-truth
boxes for COCO-17 data or PCKh@0.5 (and 0.1) for MPII data. Keypoints are estimated once per validation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transpose_live.training.augmentation import AugmentConfig
from transpose_live.training.datasets import PoseDataset
from transpose_live.training.loss import joints_mse_loss
from transpose_live.training.samples import SampleGeometry, TrainingSamples


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


@torch.no_grad()
def validation_loss(model: nn.Module, dataset: PoseDataset, geom: SampleGeometry, device: torch.device,
                    batch: int = 32) -> float:
    """Mean heatmap MSE of the model (eval mode) on the unaugmented crops of the validation people."""
    samples = TrainingSamples(dataset.records, dataset.keypoints, geom, AugmentConfig.none())
    total, count = 0.0, 0
    for crops, maps, weights, _ in DataLoader(samples, batch_size=batch, shuffle=False):
        heatmaps = model(crops.to(device)).float()
        total += float(joints_mse_loss(heatmaps, maps.to(device), weights.to(device))) * len(crops)
        count += len(crops)
    return total / count if count else float("nan")


def estimator_for(model: nn.Module, model_name: str, dataset: PoseDataset, geom: SampleGeometry, device,
                  batch: int = 64, flip_test: bool = True):
    """The inference `PoseEstimator` over the model being trained (a BatchNorm-folded copy; fp32)."""
    from transpose_live.engine import PoseEstimator
    from transpose_live.models import model_info

    spec = model_info(model_name).resized(geom.input_size, geom.heatmap_size)
    return PoseEstimator.from_module(model, spec, device=device, precision="fp32", flip_test=flip_test, max_batch=batch,
                                     channels_last=False, keypoints=dataset.keypoints)


class Validation:
    """The validation of a run: its people, and (COCO-17 data) the annotation file read for COCOeval once,
    at start-up, so a file the evaluator refuses stops the run before any epoch."""

    def __init__(self, dataset: PoseDataset, model_name: str, geom: SampleGeometry, batch: int = 32,
                 flip_test: bool = True) -> None:
        self.dataset, self.model_name, self.geom, self.batch, self.flip_test = dataset, model_name, geom, batch, flip_test
        self.metric = headline_metric(dataset)
        self.coco = None
        if uses_coco_ap(dataset):
            from transpose_live.evaluation import load_coco

            self.coco = load_coco(dataset.annotations, warn=None)  # reading the dataset already warned

    def run(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """val_loss, plus AP or PCKh (flip test: average with the mirrored crop) of `model` in eval mode."""
        was_training = model.training
        model.eval()
        try:
            metrics = {"val_loss": validation_loss(model, self.dataset, self.geom, device, self.batch)}
            if self.metric is not None:
                estimator = estimator_for(model, self.model_name, self.dataset, self.geom, device, self.batch,
                                          self.flip_test)
                metrics.update(keypoint_metrics(estimator, self.dataset, self.batch, self.coco))
        finally:
            model.train(was_training)
        return metrics


def keypoint_metrics(estimator, dataset: PoseDataset, batch: int = 64, coco=None) -> dict[str, float]:
    """COCO AP (the project's evaluator, ground-truth boxes; `coco`: the file already read) or PCKh of the
    estimator on `dataset`."""
    if uses_coco_ap(dataset):
        from transpose_live.evaluation import evaluate_dataset, gt_person_boxes, load_coco

        coco = coco or load_coco(dataset.annotations, warn=None)
        return evaluate_dataset(estimator, coco, dataset.images_dir, gt_person_boxes(coco),
                                people_per_batch=batch, progress=False, workers=2).metrics
    from transpose_live.evaluation.pckh import pckh_metrics, pckh_results
    from transpose_live.evaluation.people import estimate_people

    records = dataset.records
    keypoints = estimate_people(estimator, [r.image for r in records], np.stack([r.box_xyxy() for r in records]),
                                people_per_batch=batch, workers=2)
    head = np.asarray([r.extra["head_size"] for r in records])
    return pckh_metrics(pckh_results(keypoints, np.stack([r.joints for r in records]), head))
