"""Flip test (spec 2.3): mirrored crops ride in the same forward pass as the originals."""

from __future__ import annotations

import functools

import torch

from transpose_live.keypoints import flip_permutation

COCO_PERMUTATION = tuple(flip_permutation())


def with_flipped(crops: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (2N, 3, H, W): the crops, then their horizontal mirrors."""
    return torch.cat((crops, crops.flip(-1)), dim=0)


def flip_back(heatmaps: torch.Tensor, shift: bool = False, permutation=COCO_PERMUTATION) -> torch.Tensor:
    """Heatmaps of mirrored crops -> the original orientation: mirror the width, swap left/right joints
    (`permutation`: the keypoint set's `flip_permutation()`, COCO's by default).

    shift=True moves the result one pixel right (HRNet / SimpleBaseline evaluation); TransPose
    does not shift.
    """
    out = heatmaps.flip(-1).index_select(1, _index(tuple(permutation), heatmaps.device))
    if shift:
        out = torch.cat((out[..., :1], out[..., :-1]), dim=-1)
    return out


def merge_flipped(heatmaps: torch.Tensor, shift: bool = False, permutation=COCO_PERMUTATION) -> torch.Tensor:
    """(2N, J, H, W) from `with_flipped` crops -> (N, J, H, W): mean of original and flipped-back."""
    n = heatmaps.shape[0] // 2
    return (heatmaps[:n] + flip_back(heatmaps[n:], shift, permutation)) * 0.5


@functools.lru_cache(maxsize=16)
def _index(permutation: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The permutation as an index tensor on `device`, made once per device (not a copy per call)."""
    return torch.tensor(permutation, dtype=torch.long).to(device)
