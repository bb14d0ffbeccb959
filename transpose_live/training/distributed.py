"""torchrun / DistributedDataParallel plumbing: one process per device, gloo on the CPU, NCCL on CUDA.

Under `torchrun --nproc-per-node N -m transpose_live train ...` the environment (WORLD_SIZE, RANK,
LOCAL_RANK, MASTER_ADDR/PORT) says how many processes run; without it training is one process.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist

from transpose_live.errors import UserError


@dataclass(frozen=True)
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # where collectives put their tensors (NCCL: this process's GPU)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of a number over all processes."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)  # NCCL refuses CPU tensors
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup_distributed(device: torch.device) -> DistContext:
    """Joins the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        try:
            # validation runs on rank 0 while the others wait: allow it hours, not the 10-30 min default
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=3))
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"cannot join the torchrun process group ({backend}): {str(exc).splitlines()[0]}") \
                from None
    ctx = DistContext(world, rank, local)
    return replace(ctx, device=process_device(device, ctx))


def process_device(device: torch.device, ctx: DistContext) -> torch.device:
    """cuda -> this process's GPU (LOCAL_RANK); cpu stays cpu."""
    if device.type == "cuda" and ctx.enabled:
        return torch.device("cuda", ctx.local_rank)
    return device
