"""Checkpoint loading: official layout, wrappers, `module.` prefixes, strict readable errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import CONFORMANCE, filled_model, require_shared
from transpose_live import models
from transpose_live.errors import WeightsError


@pytest.fixture(scope="module")
def official_tp_r_a3(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tp_r_256x192_enc3_d256_h1024_mh8.pth"
    torch.save(filled_model("tp_r_a3").state_dict(), path)
    return path


def test_official_layout_round_trips_through_build(official_tp_r_a3):
    model = models.build("tp_r_a3", weights=official_tp_r_a3)
    assert not model.training
    x = torch.from_numpy(np.load(require_shared(CONFORMANCE / "input.npy")))
    gold = np.load(CONFORMANCE / "tp_r_a3" / "heatmaps.npy")
    with torch.inference_mode():
        out = model(x).numpy()
    assert np.abs(out - gold).max() / np.abs(gold).max() < 1e-4


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module_prefix"])
def test_wrapped_checkpoints_load(official_tp_r_a3, tmp_path, wrap):
    sd = torch.load(official_tp_r_a3, weights_only=True)
    if wrap == "module_prefix":
        obj = {f"module.{k}": v for k, v in sd.items()}
    else:
        obj = {wrap: sd, "epoch": 3}
    path = tmp_path / "wrapped.pth"
    torch.save(obj, path)
    model = models.build("tp_r_a3", weights=path)
    torch.testing.assert_close(model.final_layer.bias, sd["final_layer.bias"])


def test_mismatch_lists_missing_unexpected_and_shapes(official_tp_r_a3, tmp_path):
    sd = torch.load(official_tp_r_a3, weights_only=True)
    del sd["final_layer.bias"]
    sd["extra.weight"] = torch.zeros(3)
    sd["reduce.weight"] = torch.zeros(5, 512, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(WeightsError) as info:
        models.build("tp_r_a3", weights=path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "1 missing: final_layer.bias" in msg
    assert "1 unexpected: extra.weight" in msg
    assert "reduce.weight (5, 512, 1, 1) != (256, 512, 1, 1)" in msg


def test_wrong_model_for_checkpoint_is_reported(official_tp_r_a3):
    """The short line a person reads: the model the file fits, not its keys (issue #28)."""
    with pytest.raises(WeightsError, match="does not fit model 'tp_r_a4': it holds tp_r_a3 weights; pass --model tp_r_a3"):
        models.build("tp_r_a4", weights=official_tp_r_a3)


def test_unreadable_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        models.build("tp_r_a3", weights=junk)
    with pytest.raises(WeightsError, match="checkpoint not found"):
        models.build("tp_r_a3", weights=tmp_path / "nope.pth")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "obj": object()}, path)
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        models.build("tp_r_a3", weights=path)


def test_unknown_model_name():
    with pytest.raises(models.UnknownModelError, match="unknown model 'tp_x'"):
        models.build("tp_x")
