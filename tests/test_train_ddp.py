"""DDP through torchrun (gloo on the CPU): two processes with batch 1 train as one process with batch 2
(the same global batch).

Not bit-level: gloo's all-reduce adds the two half-batch gradients in another order than one process
sums its batch, and the CPU's instruction set (AVX2, AVX-512, AMX) sets the rounding of every kernel,
so weights agree only to float rounding, and Adam's first steps (lr x the gradient's sign) turn a
rounding on a near-zero gradient into a whole step. What must hold on every CPU: the same number of
steps, the same training loss, and weights whose difference is small against how far training moved
them; a DDP that did not average gradients (each process stepping on its own person) differs by about
as much as training moved the weights.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch

from helpers import COCO_MINI, cli, coco_subset, require_shared, single_person_images, train_args

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"


def _weights(run) -> dict[str, torch.Tensor]:
    return {k: v.double() for k, v in torch.load(run / "last.pth", weights_only=True)["state_dict"].items()
            if v.is_floating_point()}


def _distance(a: dict, b: dict) -> float:
    return float(sum(((a[k] - b[k]) ** 2).sum() for k in a) ** 0.5)


def _train_loss(run) -> float:
    with open(run / "metrics.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["train_loss"])


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    """DDP (gloo, CPU): 2 processes x batch 1 train as 1 process x batch 2 (BN frozen, no dropout)."""
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
    a, b = (torch.load(tmp_path / run / "last.pth", weights_only=True) for run in ("one", "two"))
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2  # 4 people / global batch 2
    from transpose_live.training.model_setup import build_training_model

    torch.manual_seed(0)  # the runs' seed: their starting weights
    start, _ = build_training_model("tp_r_a3", 17, (64, 48), "random")
    start = {k: v.double() for k, v in start.state_dict().items() if v.is_floating_point()}
    one_w, two_w = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    moved, apart = _distance(one_w, start), _distance(two_w, one_w)
    loss_one, loss_two = _train_loss(tmp_path / "one"), _train_loss(tmp_path / "two")
    print(f"\ntraining moved the weights {moved:.4g} (L2); DDP vs one process {apart:.4g} ({apart / moved:.2%}); "
          f"train loss {loss_one:.6g} vs {loss_two:.6g}")
    assert moved > 0
    assert apart < 0.01 * moved, (apart, moved)  # the same steps, up to float rounding (measured 5e-6 x)
    assert loss_two == pytest.approx(loss_one, rel=1e-3)  # the same batches and the same loss
