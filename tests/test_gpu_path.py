"""The GPU path's bugs that only a GPU would show, caught on the CPU (issue #25): the collective's device,
resuming on fewer GPUs, exported files on a GPU machine, the out-of-memory retry's memory, constants
uploaded per call, and the torch precision choice."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils._python_dispatch import TorchDispatchMode

from helpers import assert_keypoints_agree, filled_model
from transpose_live.backends import choose_backend
from transpose_live.cli import main
from transpose_live.engine import PoseEstimator
from transpose_live.engine.boxes import box_to_center_scale, xyxy_to_xywh
from transpose_live.engine.crops import sampled_region
from transpose_live.backends.precision import resolve_precision as resolve_any
from transpose_live.device import parse_precision
from transpose_live.engine.precision import cpu_half_allowed
from transpose_live.errors import UserError
from transpose_live.training import resume
from transpose_live.training.distributed import DistContext, process_device

CPU = torch.device("cpu")
CUDA = torch.device("cuda")  # a device object only: nothing is allocated on it here


def _frame_and_boxes():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[40, 20, 140, 220], [150, 30, 260, 230], [10, 10, 90, 120]], np.float32)
    return frame, boxes


@pytest.fixture(scope="module")
def small():
    """tp_r_a3 with the conformance weights, built for a 64x48 crop (cheap)."""
    from transpose_live.models import model_info
    from transpose_live.models.factory import create_model

    spec = model_info("tp_r_a3").resized((64, 48), (16, 12))
    model = create_model(spec)
    model.load_state_dict({k: v for k, v in filled_model("tp_r_a3").state_dict().items() if k != "pos_embedding"},
                          strict=False)
    return spec, model.eval()


# --- 1. the collective runs on the process's device (NCCL refuses CPU tensors) -------------------

def test_mean_all_reduces_a_tensor_on_the_process_device(monkeypatch):
    seen = []

    def all_reduce(t, *args, **kwargs):  # the collective, patched: record where its tensor lives, sum 2 ranks
        seen.append(t.device)
        t.mul_(2)

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    ctx = DistContext(world_size=2, rank=1, local_rank=1, device=CPU)
    assert ctx.mean(3.0) == 3.0 and seen == [CPU]
    # on a GPU process the tensor must be that process's GPU: cuda:LOCAL_RANK, what process_device gives
    gpu = process_device(CUDA, DistContext(world_size=2, rank=1, local_rank=1))
    assert gpu == torch.device("cuda", 1)
    meta = DistContext(world_size=2, rank=1, local_rank=1, device=torch.device("meta"))  # stands in for cuda:1

    class Reached(Exception):
        pass

    def stop(t, *args, **kwargs):
        seen.append(t.device)
        raise Reached

    monkeypatch.setattr(dist, "all_reduce", stop)
    with pytest.raises(Reached):
        meta.mean(3.0)
    assert seen[-1] == torch.device("meta")


def test_resume_restores_the_rng_of_the_gpus_present(monkeypatch):
    """A run saved with 2 GPUs visible, resumed where 1 is: only device 0's state is restored (no IndexError)."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    record = lambda state, device="cuda": restored.append(torch.device("cuda", device) if isinstance(device, int)
                                                           else torch.device(device))
    monkeypatch.setattr(torch.cuda, "set_rng_state", record)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", record)
    saved = {"torch": torch.get_rng_state(), "cuda": [torch.zeros(16, dtype=torch.uint8)] * 2}
    resume.set_rng_state(saved)
    assert [d.index for d in restored] == [0]


# --- 2. exported files on a GPU machine -----------------------------------------------------------

def test_exported_file_with_a_gpu_device_runs_on_its_runtime(filled_checkpoint, tmp_path, capsys):
    onnx = tmp_path / "a3.onnx"
    assert main(["export", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--format", "onnx",
                 "--out", str(onnx)]) == 0
    capsys.readouterr()
    for asked in ("auto", None, "onnxruntime"):  # --device auto finding a GPU, the library default, explicit
        assert choose_backend(asked, str(onnx), CUDA) == "onnxruntime"
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("note: ") and "on the CPU, not on cuda" in err
    with pytest.raises(UserError, match="exported model"):
        choose_backend("torch", str(onnx), CUDA)
    assert choose_backend("auto", None, CUDA) == "torch"  # checkpoints run on the GPU
    # the estimator (as the CLI and batch workers build it) runs it: crops and decoding on the CPU too
    frame, boxes = _frame_and_boxes()
    on_gpu_machine = PoseEstimator("tp_r_a3", weights=str(onnx), device=CUDA, flip_test=False)
    on_cpu = PoseEstimator("tp_r_a3", weights=str(onnx), device="cpu", flip_test=False)
    assert on_gpu_machine.device == CPU and on_gpu_machine.backend == "onnxruntime"
    np.testing.assert_allclose(on_gpu_machine.estimate(frame, boxes).keypoints, on_cpu.estimate(frame, boxes).keypoints)


# --- 3. the out-of-memory retry does not keep the failed attempt alive ----------------------------

def test_oom_retry_runs_after_the_failed_attempt_is_freed(small, monkeypatch):
    spec, model = small
    est = PoseEstimator.from_module(model, spec, device="cpu", flip_test=True, max_batch=64)
    frame, boxes = _frame_and_boxes()
    expected = est.estimate(frame, boxes).keypoints
    real, failed, alive_at_retry = est._forward_chunk, [], []

    def probe(crops, want_attention):
        if failed:  # a retry: the failed attempts' outputs must be gone by now
            alive_at_retry.append(sum(ref() is not None for ref in failed))
        heatmaps, rows = real(crops, want_attention)  # the real forward pass, real tensors
        if len(crops) > 1:
            failed.append(weakref.ref(heatmaps))
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (allocation-tracking probe)")
        return heatmaps, rows

    monkeypatch.setattr(est, "_forward_chunk", probe)
    got = est.estimate(frame, boxes).keypoints
    assert len(failed) == 2 and alive_at_retry and max(alive_at_retry) == 0, alive_at_retry
    assert_keypoints_agree(got, expected, atol=1e-3)  # batch 1 after the retry: other kernels than batch 4
    assert est.max_batch == 2  # one person (and its mirror) per forward from now on


# --- 5. no constant is made on the device per call ------------------------------------------------

class _FactoryOps(TorchDispatchMode):
    """Records the ops that make a tensor from host values or ranges (on a GPU: a copy or a launch the
    CPU may wait for), with the shape made: lift_fresh is torch.tensor / from_numpy / as_tensor."""

    WATCH = ("aten.lift_fresh", "aten.arange", "aten.scalar_tensor", "aten.full", "aten.zeros", "aten.ones")

    def __init__(self):
        super().__init__()
        self.made = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if str(func).startswith(self.WATCH):
            self.made.append((str(func).split(".")[1], tuple(out.shape)))
        return out


@pytest.mark.parametrize("decoder", ["dark", "classic"])
def test_no_constant_tensors_are_made_per_call(small, decoder):
    spec, model = small
    est = PoseEstimator.from_module(model, spec, device="cpu", flip_test=True, decoder=decoder)
    frame, boxes = _frame_and_boxes()
    first = est.estimate(frame, boxes).keypoints  # constants made here, once per device
    with _FactoryOps() as ops:
        again = est.estimate(frame, boxes).keypoints
    # only the call's own data goes up: the boxes and the frame (on the CPU the part the crops read), nothing else
    center, scale = box_to_center_scale(xyxy_to_xywh(torch.from_numpy(boxes)), spec.input_size[1] / spec.input_size[0])
    region = sampled_region(center, scale, frame.shape[:2], spec.input_size)
    part = frame if region is None else frame[region]
    assert sorted(ops.made) == sorted([("lift_fresh", boxes.shape), ("lift_fresh", part.shape)]), ops.made
    np.testing.assert_array_equal(first, again)


# --- the torch precision: fp32 / fp16 / bf16, half= as the alias ---------------------------------

def resolve_precision(precision, half, device):
    """The torch backend's precision: the one parser, then the one resolution."""
    return resolve_any(parse_precision(precision, half), device, "torch")


def test_precision_choice_and_refusals():
    assert resolve_precision(None, None, CPU) == "fp32" and resolve_precision(None, None, CUDA) == "fp16"
    assert resolve_precision(None, True, CUDA) == "fp16" and resolve_precision("fp16", True, CUDA) == "fp16"
    assert resolve_precision(torch.float16, None, CUDA) == "fp16" and resolve_precision("float32", False, CPU) == "fp32"
    assert resolve_precision("auto", None, CPU) == "fp32" and resolve_precision("auto", True, CUDA) == "fp16"
    for precision, half, needle in (("fp16", None, "--half needs a CUDA device"), (None, True, "--half needs"),
                                    ("bf16", None, "bf16 on the torch backend needs a CUDA device"),
                                    ("int4", None, "unknown --precision"), ("fp32", True, "contradicts")):
        with pytest.raises(UserError, match=needle):
            resolve_precision(precision, half, CPU)
    with cpu_half_allowed():
        assert resolve_precision("fp16", None, CPU) == "fp16" and resolve_precision(None, True, CPU) == "fp16"
    with pytest.raises(UserError):
        resolve_precision("fp16", None, CPU)  # the allowance ends with the block


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_branch_runs_on_the_cpu(small, precision):
    """The path CUDA takes (BatchNorm folded, cast, channels-last, crops cast, attention rows), on the CPU."""
    spec, model = small
    frame, boxes = _frame_and_boxes()
    with cpu_half_allowed():
        est = PoseEstimator.from_module(model, spec, device="cpu", precision=precision, max_batch=4)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    assert est.precision == precision and est.half and est.dtype == dtype and est.channels_last
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in est.model.modules())
    assert all(p.dtype == dtype for p in est.model.parameters())
    conv = next(m for m in est.model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert next(model.parameters()).dtype == torch.float32  # the caller's module is untouched
    poses = est.estimate(frame, boxes, return_attention=True)
    assert poses.keypoints.dtype == np.float32 and np.isfinite(poses.keypoints).all()
    assert poses.attention.shape == (len(boxes), 17, *spec.token_grid) and np.isfinite(poses.attention).all()
    rows = poses.attention.reshape(len(boxes), 17, -1).sum(-1)
    np.testing.assert_allclose(rows, 1.0, atol=2e-2)  # softmax rows in half precision still sum to one
    assert "precision=" + precision in repr(est)


# --- minor: the attention budget counts heads; "fp32" bench runs are not TF32 --------------------

def test_attention_chunk_budget_counts_the_heads(small):
    spec, model = small
    est = PoseEstimator.from_module(model, spec, device="cpu", flip_test=True, max_batch=1_000_000)
    tokens, heads = spec.token_grid[0] * spec.token_grid[1], spec.arch["heads"]
    assert heads == 8
    per_image = (heads + 1) * tokens * tokens * 4  # the (heads, L, L) softmax and its mean, fp32
    assert est._people_per_chunk(True) == (1 << 30) // (per_image * 2)
    assert est._people_per_chunk(False) == 500_000


def test_fp32_bench_runs_switch_tf32_off_and_restore_it():
    from transpose_live.bench.model_bench import strict_fp32

    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with strict_fp32():
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with strict_fp32(False):
            assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
