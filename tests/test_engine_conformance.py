"""The engine's crops, flip-back and decoders against the reference fixtures (conformance/postprocess)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from helpers import COCO_MINI, CONFORMANCE, require_shared
from transpose_live.engine.boxes import box_to_center_scale, crop_affine, crop_to_frame
from transpose_live.engine.crops import crop_frame, frame_to_tensor, sampled_region
from transpose_live.engine.decode import argmax_coords, decode, decode_dark, opencv_gaussian_sigma
from transpose_live.engine.flip import flip_back, merge_flipped, with_flipped

POST = CONFORMANCE / "postprocess"
CPU = torch.device("cpu")


def _load(name: str) -> np.ndarray:
    return np.load(require_shared(POST / name))


@pytest.fixture(scope="module")
def crop_cases():
    cases = json.loads(require_shared(POST / "crops.json").read_text())
    return cases, _load("crops.npy")


@pytest.fixture(scope="module")
def post():
    hm = torch.from_numpy(_load("heatmaps.npy"))
    center = torch.from_numpy(_load("center.npy")).double()
    scale = torch.from_numpy(_load("scale.npy")).double()
    return hm, center, scale


def test_center_scale_and_matrix_match_reference(crop_cases):
    cases, _ = crop_cases
    boxes = torch.tensor([c["bbox_xywh"] for c in cases], dtype=torch.float64)
    center, scale = box_to_center_scale(boxes)
    matrix = crop_affine(center, scale, (256, 192))
    np.testing.assert_allclose(center.numpy(), [c["center"] for c in cases], atol=1e-4)
    np.testing.assert_allclose(scale.numpy(), [c["scale"] for c in cases], atol=1e-4)
    np.testing.assert_allclose(matrix.numpy(), [c["affine_2x3"] for c in cases], atol=1e-4)


def test_box_to_center_scale_pads_to_aspect():
    tall = torch.tensor([[0.0, 0.0, 30.0, 200.0]])
    wide = torch.tensor([[10.0, 20.0, 300.0, 40.0]])
    c, s = box_to_center_scale(torch.cat((tall, wide)).double())
    assert c.tolist() == [[15.0, 100.0], [160.0, 40.0]]
    np.testing.assert_allclose(s.numpy(), [[150 / 200 * 1.25, 200 / 200 * 1.25], [300 / 200 * 1.25, 400 / 200 * 1.25]])


def test_crops_match_reference(crop_cases):
    """All boxes of a frame are cropped in one call; each crop matches the reference (MAE < 0.02)."""
    cases, ref = crop_cases
    by_file: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        by_file.setdefault(c["file_name"], []).append(i)
    assert any(len(v) > 1 for v in by_file.values())  # the batched path is exercised
    for name, idx in by_file.items():
        image = cv2.imread(str(require_shared(COCO_MINI / "val2017" / name)))
        boxes = torch.tensor([cases[i]["bbox_xywh"] for i in idx], dtype=torch.float64)
        center, scale = box_to_center_scale(boxes)
        crops = crop_frame(frame_to_tensor(image, CPU), center, scale, (256, 192))
        assert crops.shape == (len(idx), 3, 256, 192) and crops.dtype == torch.float32
        for k, i in enumerate(idx):
            err = np.abs(crops[k].numpy() - ref[i])
            assert err.mean() < 0.02, (name, i, err.mean())


def test_crops_from_the_sampled_region_equal_crops_from_the_whole_frame(crop_cases):
    """On the CPU only the frame's part the crops read becomes float (`sampled_region`): the crops are those of
    the whole frame (within float rounding), for the reference's boxes and boxes over the frame's edges."""
    cases, _ = crop_cases
    name = cases[0]["file_name"]
    image = cv2.imread(str(require_shared(COCO_MINI / "val2017" / name)))
    h, w = image.shape[:2]
    boxes = [[c["bbox_xywh"]] for c in cases if c["file_name"] == name] + [
        [[-40.0, -25.0, 120.0, 200.0]], [[w - 3.0, h / 2, 60.0, 90.0]], [[10.0, 10.0, 2.0, 2.0]],
        [[5.0, 5.0, 30.0, 40.0], [w - 60.0, h - 80.0, 50.0, 70.0]]]
    parts = 0
    for box in boxes:
        center, scale = box_to_center_scale(torch.tensor(box, dtype=torch.float64))
        whole = crop_frame(frame_to_tensor(image, CPU), center, scale, (256, 192))
        region = sampled_region(center, scale, (h, w), (256, 192))
        if region is None:
            continue
        rows, cols = region
        assert 2 <= rows.stop - rows.start <= h and 2 <= cols.stop - cols.start <= w
        part = crop_frame(frame_to_tensor(image[region], CPU), center, scale, (256, 192), (cols.start, rows.start))
        torch.testing.assert_close(part, whole, atol=1e-3, rtol=0)
        parts += (rows.stop - rows.start) * (cols.stop - cols.start) < h * w
    assert parts >= 4
    far = box_to_center_scale(torch.tensor([[w + 500.0, h + 500.0, 40.0, 80.0]]))
    assert sampled_region(*far, (h, w), (256, 192)) is None  # nothing inside: the whole frame, all zeros


def test_crop_outside_frame_is_zero_padded():
    """A box wholly off-frame gives the normalised value of a black pixel everywhere."""
    frame = frame_to_tensor(np.full((50, 60, 3), 200, np.uint8), CPU)
    center, scale = box_to_center_scale(torch.tensor([[1000.0, 1000.0, 40.0, 80.0]]))
    crop = crop_frame(frame, center, scale, (256, 192))
    black = (0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(crop[0].mean(dim=(1, 2)), black)


def test_frame_formats_convert_alike():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (40, 30), dtype=np.uint8)
    bgr = np.repeat(grey[:, :, None], 3, axis=2)
    bgra = np.concatenate((bgr, np.full((40, 30, 1), 7, np.uint8)), axis=2)
    ref = frame_to_tensor(bgr, CPU)
    assert ref.shape == (1, 3, 40, 30)
    for f in (grey, grey[:, :, None], bgra):
        torch.testing.assert_close(frame_to_tensor(f, CPU), ref)


def test_flip_back_matches_reference(post):
    hm, _, _ = post
    np.testing.assert_array_equal(flip_back(hm).numpy(), _load("heatmaps_flip_back.npy"))


def test_flip_merge_and_shift():
    hm = torch.rand(2, 17, 8, 6)
    both = torch.cat((hm, flip_back(hm)))  # "flipped" half already mirrored: flip_back undoes it exactly
    torch.testing.assert_close(merge_flipped(both), hm)
    shifted = flip_back(hm, shift=True)
    torch.testing.assert_close(shifted[..., 1:], flip_back(hm)[..., :-1])
    x = torch.rand(3, 3, 4, 5)
    assert torch.equal(with_flipped(x)[3:], x.flip(-1))


def test_opencv_sigma_rule():
    assert opencv_gaussian_sigma(11) == pytest.approx(2.0)
    k = cv2.getGaussianKernel(11, 0).ravel()
    from transpose_live.engine.decode import gaussian_kernel_1d

    np.testing.assert_allclose(gaussian_kernel_1d(11, dtype=torch.float64).numpy(), k, atol=1e-7)


@pytest.mark.parametrize("method, fixture", [("dark", "preds_dark.npy"), ("classic", "preds_classic.npy")])
def test_decoders_match_reference(post, method, fixture):
    hm, center, scale = post
    preds, maxvals = decode(hm, center, scale, method)
    assert torch.isfinite(preds).all() and torch.isfinite(maxvals).all()
    np.testing.assert_allclose(preds.numpy(), _load(fixture), atol=1e-3, rtol=0)
    np.testing.assert_allclose(maxvals.numpy(), _load("maxvals.npy")[..., 0], atol=1e-6, rtol=0)


def test_decoders_in_float32_frame_coords_still_match(post):
    """The device path may keep center/scale in float32; the tolerance still holds."""
    hm, center, scale = post
    preds, _ = decode(hm, center.float(), scale.float(), "dark")
    np.testing.assert_allclose(preds.numpy(), _load("preds_dark.npy"), atol=1e-3, rtol=0)


def test_degenerate_maps_give_origin(post):
    """The all-zero [3, 5] and all-negative [4, 6] maps decode to heatmap (0, 0), mapped back."""
    hm, center, scale = post
    coords, maxvals = decode_dark(hm)
    assert coords[3, 5].tolist() == [0.0, 0.0] and coords[4, 6].tolist() == [0.0, 0.0]
    assert maxvals[3, 5] == 0 and maxvals[4, 6] < 0
    back = crop_to_frame(coords, center.float(), scale.float(), (64, 48))
    assert torch.isfinite(back).all()


def _ridge_map() -> torch.Tensor:
    """A spike at (20, 30) beside a flat bar: the blurred log map's Hessian is near-singular there."""
    hm = torch.zeros(1, 1, 64, 48)
    hm[0, 0, 29:32, 23:37] = 0.999
    hm[0, 0, 30, 20] = 1.0
    return hm


def test_ill_conditioned_map_does_not_jump():
    hm = _ridge_map()
    unbounded, _ = decode_dark(hm, max_step=float("inf"))  # what the reference does
    assert (unbounded[0, 0] - torch.tensor([20.0, 30.0])).norm() > 5
    ours, _ = decode_dark(hm)
    assert ours[0, 0].tolist() == [20.0, 30.0]


def test_noisy_and_flat_maps_stay_finite_and_close():
    g = torch.Generator().manual_seed(0)
    hm = torch.cat((
        torch.rand(4, 17, 64, 48, generator=g) * 1e-3,  # low-quality noise
        torch.full((1, 17, 64, 48), 0.25),  # flat plateau
        torch.full((1, 17, 64, 48), -1.0),
        torch.zeros(1, 17, 64, 48),
    ))
    for method in ("dark", "classic"):
        coords, maxvals = decode(hm, torch.full((7, 2), 100.0), torch.ones(7, 2), method)
        assert torch.isfinite(coords).all() and torch.isfinite(maxvals).all()
    refined, _ = decode_dark(hm)
    start, _ = argmax_coords(hm)
    assert (refined - start).norm(dim=-1).max() <= 1.0 + 1e-6
