"""Person records -> training tensors: (augmented) crop, Gaussian targets, target weights.

`TrainingSamples` is a torch Dataset; `set_epoch` makes the augmentation of epoch e reproducible
(each sample draws from a generator seeded by (seed, epoch, index)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from transpose_live.engine.crops import normalize
from transpose_live.images import read_image
from transpose_live.training.affine import apply_matrix, crop_matrix, warp_crop
from transpose_live.training.augmentation import AugmentConfig, CropParams, draw_crop
from transpose_live.training.datasets import PersonRecord
from transpose_live.training.keypoint_set import KeypointSet
from transpose_live.training.targets import gaussian_targets


@dataclass(frozen=True)
class SampleGeometry:
    input_size: tuple[int, int]  # H, W
    heatmap_size: tuple[int, int]  # H, W
    sigma: float


def make_sample(image_bgr: np.ndarray, record: PersonRecord, params: CropParams, kset: KeypointSet,
                geom: SampleGeometry) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One crop (3, H, W) normalised RGB, targets (J, h, w), weights (J,)."""
    m_in = crop_matrix(params.center, params.scale, geom.input_size, params.rotation, params.mirror)
    m_hm = crop_matrix(params.center, params.scale, geom.heatmap_size, params.rotation, params.mirror)
    crop = warp_crop(image_bgr, m_in, geom.input_size)
    joints = record.joints
    if params.mirror:
        joints = joints[kset.flip_permutation()]
    hm_xy = apply_matrix(m_hm, joints[:, :2])
    maps, weights = gaussian_targets(hm_xy, joints[:, 2], geom.heatmap_size, geom.sigma)
    rgb = torch.from_numpy(np.ascontiguousarray(crop[:, :, ::-1])).permute(2, 0, 1).float()
    return normalize(rgb[None])[0], torch.from_numpy(maps), torch.from_numpy(weights)


class TrainingSamples(Dataset):
    def __init__(self, records: list[PersonRecord], kset: KeypointSet, geom: SampleGeometry,
                 augment: AugmentConfig, seed: int = 0, repeat: int = 1) -> None:
        self.records = records
        self.repeat = max(1, int(repeat))  # an epoch passes over every person `repeat` times (tiny data sets)
        self.kset = kset
        self.geom = geom
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records) * self.repeat

    def __getitem__(self, index: int):
        record = self.records[index % len(self.records)]
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        aspect = self.geom.input_size[1] / self.geom.input_size[0]
        params = draw_crop(record.center, record.scale, record.joints, self.kset, aspect, self.augment, rng)
        image = read_image(record.image)
        crop, maps, weights = make_sample(image, record, params, self.kset, self.geom)
        return crop, maps, weights, index % len(self.records)
