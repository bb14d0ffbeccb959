"""Heatmap decoders in torch, batched over people x joints (spec 2.4, 2.5).

`decode_dark` is TransPose's decoder (Gaussian-blurred log map, one Newton step); `decode_classic`
is HRNet's quarter-pixel offset. Both return coordinates in heatmap pixels; `decode` maps them back
to the frame through each crop's center/scale.
"""

from __future__ import annotations

import functools

import torch

from transpose_live.engine.boxes import crop_to_frame

DARK_KERNEL = 11
MAX_NEWTON_STEP = 1.0  # heatmap pixels; longer steps come from ill-conditioned maps and are skipped
DECODERS = ("dark", "classic")


def argmax_coords(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, J, H, W) -> integer-valued coords (N, J, 2) as float [x, y] and maxvals (N, J).

    A map whose max is <= 0 gives (0, 0), as the reference does.
    """
    n, j, _, w = heatmaps.shape
    maxvals, idx = heatmaps.reshape(n, j, -1).max(dim=-1)
    coords = torch.stack((idx % w, torch.div(idx, w, rounding_mode="floor")), dim=-1).to(heatmaps.dtype)
    return coords * (maxvals > 0)[..., None], maxvals


def opencv_gaussian_sigma(ksize: int) -> float:
    """The sigma OpenCV picks when asked for sigma 0."""
    return 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8


def gaussian_kernel_1d(ksize: int, device=None, dtype=torch.float32) -> torch.Tensor:
    sigma = opencv_gaussian_sigma(ksize)
    x = torch.arange(ksize, device=device, dtype=torch.float64) - (ksize - 1) / 2
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (k / k.sum()).to(dtype)


@functools.lru_cache(maxsize=32)
def _blur_matrix(n: int, ksize: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(n, n) banded matrix M with (M @ x) = 1-D Gaussian blur of x with zero padding."""
    g = gaussian_kernel_1d(ksize, device, dtype)
    r = (ksize - 1) // 2
    i = torch.arange(n, device=device)
    d = i[None, :] - i[:, None]
    return torch.where(d.abs() <= r, g[(d + r).clamp(0, ksize - 1)], torch.zeros((), device=device, dtype=dtype))


def dark_blur(heatmaps: torch.Tensor, ksize: int = DARK_KERNEL) -> torch.Tensor:
    """Gaussian blur with zero padding (ksize-1)/2, rescaled so each map keeps its max.

    Separable and zero-padded, so it is two batched matmuls with banded matrices (much faster than a
    single-channel conv over N*J maps on the CPU, and tensor-core friendly on the GPU).
    """
    h, w = heatmaps.shape[-2:]
    rows = _blur_matrix(h, ksize, heatmaps.device, heatmaps.dtype)
    cols = _blur_matrix(w, ksize, heatmaps.device, heatmaps.dtype)
    x = rows @ heatmaps @ cols.T
    orig_max = heatmaps.amax(dim=(-2, -1), keepdim=True)
    blur_max = x.amax(dim=(-2, -1), keepdim=True)
    factor = torch.where(blur_max != 0, orig_max / torch.where(blur_max != 0, blur_max, 1.0), 1.0)
    return x * factor


# Stencil offsets (dx, dy) used by the Newton step, in this order.
_STENCIL = (
    (0, 0), (1, 0), (-1, 0), (2, 0), (-2, 0), (0, 1), (0, -1), (0, 2), (0, -2),
    (1, 1), (-1, 1), (1, -1), (-1, -1),
)


def _gather_stencil(maps: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Values of `maps` (N, J, H, W) around integer (px, py) (N, J): (N, J, len(_STENCIL)), clamped at borders."""
    n, j, h, w = maps.shape
    off = _stencil_offsets(maps.device)
    xs = (px[..., None] + off[:, 0]).clamp(0, w - 1)
    ys = (py[..., None] + off[:, 1]).clamp(0, h - 1)
    return maps.reshape(n, j, h * w).gather(-1, ys * w + xs)


@functools.lru_cache(maxsize=8)
def _stencil_offsets(device: torch.device) -> torch.Tensor:
    """`_STENCIL` as a (13, 2) long tensor on `device`, made once per device (not a copy per call)."""
    return torch.tensor(_STENCIL, dtype=torch.long).to(device)


def decode_dark(heatmaps: torch.Tensor, max_step: float = MAX_NEWTON_STEP) -> tuple[torch.Tensor, torch.Tensor]:
    """DARK: argmax refined by one Newton step on the blurred log map -> (coords (N, J, 2), maxvals (N, J)).

    The step is taken where 1 < x < W-2 and 1 < y < H-2 and the Hessian's determinant is non-zero,
    and skipped where it is not finite or longer than `max_step` heatmap pixels.
    """
    heatmaps = heatmaps.float()
    _, _, h, w = heatmaps.shape
    coords, maxvals = argmax_coords(heatmaps)
    px, py = coords[..., 0].long(), coords[..., 1].long()
    # the log is taken only at the 13 stencil values each step needs, not over the whole map
    s = _gather_stencil(dark_blur(heatmaps), px, py).clamp(min=1e-10).log().double()
    c, xp, xm, xp2, xm2, yp, ym, yp2, ym2, pp, mp, pm, mm = s.unbind(-1)
    dx, dy = 0.5 * (xp - xm), 0.5 * (yp - ym)
    dxx = 0.25 * (xp2 - 2 * c + xm2)
    dyy = 0.25 * (yp2 - 2 * c + ym2)
    dxy = 0.25 * (pp - pm - mp + mm)
    det = dxx * dyy - dxy * dxy
    safe_det = torch.where(det != 0, det, 1.0)
    step = torch.stack((-(dyy * dx - dxy * dy) / safe_det, -(dxx * dy - dxy * dx) / safe_det), dim=-1)
    inside = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2)
    ok = inside & (det != 0) & torch.isfinite(step).all(-1) & (step.norm(dim=-1) <= max_step)
    refined = coords.double() + torch.where(ok[..., None], step, 0.0)
    return refined.to(heatmaps.dtype), maxvals


def decode_classic(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HRNet's decoder: argmax plus 0.25 px toward the larger neighbour -> (coords, maxvals)."""
    heatmaps = heatmaps.float()
    _, _, h, w = heatmaps.shape
    coords, maxvals = argmax_coords(heatmaps)
    px = torch.floor(coords[..., 0] + 0.5).long()
    py = torch.floor(coords[..., 1] + 0.5).long()
    s = _gather_stencil(heatmaps, px, py)
    diff = torch.stack((s[..., 1] - s[..., 2], s[..., 5] - s[..., 6]), dim=-1)
    inside = ((px > 1) & (px < w - 1) & (py > 1) & (py < h - 1))[..., None]
    return coords + torch.where(inside, torch.sign(diff) * 0.25, 0.0), maxvals


def decode(heatmaps: torch.Tensor, center: torch.Tensor, scale: torch.Tensor,
           method: str = "dark") -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps (N, J, h, w) -> frame coordinates (N, J, 2) (dtype of `center`) and maxvals (N, J)."""
    if method == "dark":
        coords, maxvals = decode_dark(heatmaps)
    elif method == "classic":
        coords, maxvals = decode_classic(heatmaps)
    else:
        raise ValueError(f"decoder must be one of {DECODERS}, got {method!r}")
    hm_size = tuple(heatmaps.shape[-2:])
    return crop_to_frame(coords.to(center.dtype), center, scale, hm_size), maxvals
