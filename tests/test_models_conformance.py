"""The ten models compute what the reference implementations compute (conformance fixtures)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import CONFORMANCE, filled_model, require_shared
from transpose_live import models
from transpose_live.models.encoder import sine_position_embedding

ALL = models.list_models()


def _golden_input() -> torch.Tensor:
    return torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))


def _rel_err(out: torch.Tensor, name: str) -> float:
    gold = np.load(CONFORMANCE / name / "heatmaps.npy")
    return float(np.abs(out.float().numpy() - gold).max() / np.abs(gold).max())


def test_registry_lists_ten_models():
    assert ALL == [
        "tp_r_a3", "tp_r_a4", "tp_h_s", "tp_h_a4", "tp_h_a6",
        "hrnet_w32", "hrnet_w48", "simplebaseline_r50", "simplebaseline_r101", "simplebaseline_r152",
    ]


@pytest.mark.parametrize("name", ALL)
def test_keys_shapes_and_params_match_reference(name):
    ref = json.loads(require_shared(CONFORMANCE / name / "keys.json").read_text())
    model = models.create_model(name)
    mine = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert mine == ref["keys"]
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == ref["num_parameters_incl_buffers_params"] == models.model_info(name).params


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("name", ALL)
def test_heatmaps_match_reference(name):
    x = _golden_input()
    with torch.inference_mode():
        out = filled_model(name)(x)
    assert out.shape == (2, 17, 64, 48)
    assert _rel_err(out, name) < 1e-4


@pytest.mark.parametrize("name", ["tp_r_a3", "tp_h_s"])
def test_attention_path_matches_fused_path(name):
    model = filled_model(name)
    x = _golden_input()
    with torch.inference_mode():
        fast = model(x)
        heat, attn = model(x, return_attention=True)
        model.set_attention_impl("reference")
        ref_impl = model(x)
    tokens = models.model_info(name).token_grid
    assert attn.shape == (2, tokens[0] * tokens[1], tokens[0] * tokens[1])
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, tokens[0] * tokens[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(heat, fast, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ref_impl, fast, atol=1e-4, rtol=1e-4)
    assert _rel_err(ref_impl, name) < 1e-4


def test_baseline_refuses_attention():
    with pytest.raises(TypeError):
        models.create_model("hrnet_w32")(torch.zeros(1, 3, 256, 192), return_attention=True)


def test_sine_embedding_layout():
    pos = sine_position_embedding(2, 3, 8)[:, 0]  # (6, 8): y features first, then x
    # token (i=1, j=2): y = 2/2*2pi, x = 3/3*2pi; k=0 -> sin(v / 1), k=1 -> cos(v / 1)
    v = 2 * np.pi
    np.testing.assert_allclose(pos[5, 0].item(), np.sin(v / (2 + 1e-6) * 2), atol=1e-5)
    np.testing.assert_allclose(pos[5, 1].item(), np.cos(v / (2 + 1e-6) * 2), atol=1e-5)
    np.testing.assert_allclose(pos[5, 4].item(), np.sin(v / (3 + 1e-6) * 3), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (fp16 autocast check)")
@pytest.mark.parametrize("name", ALL)
def test_fp16_autocast_matches_reference(name):
    model = filled_model(name).cuda()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        out = model(_golden_input().cuda())
    assert _rel_err(out.cpu(), name) < 2e-2
