"""Heatmap loss (spec 3): MSE x 0.5 with each joint's map weighted by its target weight."""

from __future__ import annotations

import torch


def joints_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """pred, target (B, J, H, W), weight (B, J) -> scalar: 0.5 * mean over batch, joints and pixels."""
    w = weight[:, :, None, None].to(pred.dtype)
    return 0.5 * ((pred.float() - target.float()) * w.float()).pow(2).mean()
