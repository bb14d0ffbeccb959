"""The GPU path on a real GPU (skipped without one; benchmarks/gpu_suite.sh runs them): pinned staging,
cuDNN kernel selection in warmup, the NCCL collective, the precisions against fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist

from helpers import filled_model
from transpose_live.engine import PoseEstimator
from transpose_live.training.distributed import DistContext

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _frame_and_boxes():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    boxes = np.array([[80, 40, 280, 440], [300, 60, 520, 460]], np.float32)
    return frame, boxes


def test_frames_and_boxes_go_up_from_pinned_buffers_and_warmup_picks_kernels():
    torch.backends.cudnn.benchmark = False
    est = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cuda")
    est.warmup()
    assert torch.backends.cudnn.benchmark
    frame, boxes = _frame_and_boxes()
    ref = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu").estimate(frame, boxes)
    for _ in range(2):  # the second call reuses the same pinned buffers
        got = est.estimate(frame, boxes)
    buffers = est._staging._buffers
    assert buffers and all(b.is_pinned() for b in buffers.values())
    assert buffers[0].shape == frame.shape and buffers[-1].shape == boxes.shape
    np.testing.assert_allclose(got.boxes, ref.boxes)
    assert np.isfinite(got.keypoints).all()


def test_mean_runs_through_nccl_on_the_process_gpu(tmp_path):
    if not dist.is_nccl_available():
        pytest.skip("this torch has no NCCL")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("nccl", store=store, rank=0, world_size=1, device_id=torch.device("cuda", 0))
    try:
        ctx = DistContext(world_size=2, rank=0, local_rank=0, device=torch.device("cuda", 0))  # 2: divide by 2
        assert ctx.mean(3.0) == 1.5  # NCCL accepted the tensor (it refuses CPU tensors)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precisions_on_cuda_run_the_fast_path(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    frame, boxes = _frame_and_boxes()
    fp32 = PoseEstimator.from_module(filled_model("tp_r_a4"), "tp_r_a4", device="cuda", precision="fp32")
    half = PoseEstimator.from_module(filled_model("tp_r_a4"), "tp_r_a4", device="cuda", precision=precision)
    assert half.precision == precision and next(half.model.parameters()).dtype == half.dtype
    a = fp32.estimate(frame, boxes).keypoints
    b = half.estimate(frame, boxes, return_attention=True)
    assert np.isfinite(b.keypoints).all() and b.attention.shape == (len(boxes), 17, 32, 24)
    np.testing.assert_allclose(b.keypoints[..., 2], a[..., 2], atol=0.05)
