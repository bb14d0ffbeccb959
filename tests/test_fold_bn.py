"""BatchNorm folding (transpose_live.engine.fold_bn): every BN is folded and the heatmaps stay equal
to the conformance references (1e-4 of the map's max) for every model family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import CONFORMANCE, filled_model, require_shared
from transpose_live.engine import PoseEstimator
from transpose_live.engine.fold_bn import count_batchnorms, fold_batchnorm


@pytest.mark.parametrize("name", ["tp_r_a3", "tp_h_s", "hrnet_w32", "simplebaseline_r50"])
def test_folded_model_matches_conformance(name):
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    ref = np.load(CONFORMANCE / name / "heatmaps.npy")
    model = filled_model(name)
    assert count_batchnorms(model) > 0
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 0 and count_batchnorms(model) > 0  # a copy; the original is untouched
    with torch.inference_mode():
        out = folded(x).numpy()
    assert np.abs(out - ref).max() / np.abs(ref).max() < 1e-4


def test_estimator_runs_the_folded_model():
    est = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu", flip_test=False)
    assert count_batchnorms(est.model) == 0
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    ref = np.load(CONFORMANCE / "tp_r_a3" / "heatmaps.npy")
    with torch.inference_mode():
        out = est.model(x).numpy()
    assert np.abs(out - ref).max() / np.abs(ref).max() < 1e-4
