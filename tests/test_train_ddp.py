"""DDP through torchrun (gloo on the CPU): two processes with batch 1 end with the weights of one process
with batch 2 (the same global batch)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from helpers import COCO_MINI, cli, coco_subset, require_shared, single_person_images, train_args

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    """DDP (gloo, CPU): 2 processes x batch 1 give the weights of 1 process x batch 2 (BN frozen, no dropout)."""
    require_shared(VAL_ANN)
    ann = coco_subset(VAL_ANN, tmp_path / "four.json", single_person_images(VAL_ANN, count=4))
    common = ["--epochs", "1", "--freeze-bn", "--dropout", "0", "--lr", "3e-4"]
    one = cli(*train_args(ann, tmp_path / "one", *common, "--batch-size", "2"))
    assert one.returncode == 0, one.stderr[-2000:]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "transpose_live", *map(str, train_args(ann, tmp_path / "two", *common,
                                                                       "--batch-size", "1"))],
                         capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    a = torch.load(tmp_path / "one" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "two" / "last.pth", weights_only=True)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2  # 4 people / global batch 2
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-4, atol=1e-6, msg=key)
    from transpose_live.training.model_setup import build_training_model

    torch.manual_seed(0)  # the runs' seed: their starting weights
    start, _ = build_training_model("tp_r_a3", 17, (64, 48), "random")
    assert not torch.allclose(start.state_dict()["final_layer.weight"], a["state_dict"]["final_layer.weight"])
