"""Keypoints of annotated people from a model being trained (any keypoint set), and the validation loss.

Crops are the inference crops (no augmentation), the flip test uses the keypoint set's flip pairs,
and decoding is the engine's (DARK by default) mapped back through each crop's center/scale.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from transpose_live.engine.decode import decode
from transpose_live.engine.flip import flip_back
from transpose_live.training.augmentation import AugmentConfig
from transpose_live.training.keypoint_set import KeypointSet
from transpose_live.training.loss import joints_mse_loss
from transpose_live.training.samples import SampleGeometry, TrainingSamples


@torch.no_grad()
def predict_records(model: nn.Module, records, kset: KeypointSet, geom: SampleGeometry, device: torch.device,
                    batch_size: int = 32, flip_test: bool = True, shift_flipped: bool = False,
                    decoder: str = "dark", workers: int = 0) -> tuple[np.ndarray, float]:
    """(N, J, 3) frame keypoints [x, y, score] of `records`, and the mean validation loss (unflipped)."""
    was_training = model.training
    model.eval()
    samples = TrainingSamples(records, kset, geom, AugmentConfig.none())
    loader = DataLoader(samples, batch_size=batch_size, shuffle=False, num_workers=workers)
    perm = kset.flip_permutation()
    out, losses, count = [], 0.0, 0
    for crops, maps, weights, index in loader:
        crops = crops.to(device)
        heatmaps = model(crops).float()
        losses += float(joints_mse_loss(heatmaps, maps.to(device), weights.to(device))) * len(crops)
        count += len(crops)
        if flip_test and kset.flip_pairs:
            heatmaps = (heatmaps + flip_back(model(crops.flip(-1)).float(), shift_flipped, perm)) * 0.5
        idx = index.numpy()
        center = torch.as_tensor(np.stack([records[i].center for i in idx]), dtype=torch.float64, device=device)
        scale = torch.as_tensor(np.stack([records[i].scale for i in idx]), dtype=torch.float64, device=device)
        coords, maxvals = decode(heatmaps, center, scale, decoder)
        out.append(torch.cat((coords.float(), maxvals[..., None].float()), dim=-1).cpu().numpy())
    model.train(was_training)
    keypoints = np.concatenate(out) if out else np.zeros((0, len(kset), 3), np.float32)
    return keypoints, (losses / count if count else float("nan"))
