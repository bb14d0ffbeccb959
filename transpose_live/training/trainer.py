"""`Trainer`: the state of one training run -- data, model (and its DDP wrapper), sampler and loader,
optimiser, cosine scheduler, AMP scaler, validation and run folder -- and the epoch loop over it.
Resume (`resume.py`), DDP (`distributed.py`) and saving (`saving.py`) live beside it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.utils.data import DataLoader, DistributedSampler

from transpose_live.errors import UserError
from transpose_live.training import resume as rs
from transpose_live.training.augmentation import AugmentConfig
from transpose_live.training.config import TrainConfig, TrainResult, amp_dtype
from transpose_live.training.datasets import PoseDataset, load_dataset
from transpose_live.training.distributed import DistContext
from transpose_live.training.loss import joints_mse_loss
from transpose_live.training.model_setup import build_training_model, freeze_backbone, set_train_mode
from transpose_live.training.samples import SampleGeometry, TrainingSamples
from transpose_live.training.saving import RunSaver, model_meta
from transpose_live.training.targets import default_sigma
from transpose_live.training.validate import Validation


@dataclass
class TrainData:
    """The training and validation people and the crop/heatmap geometry."""

    train: PoseDataset
    val: PoseDataset | None
    geom: SampleGeometry


def load_data(cfg: TrainConfig, warn=None) -> TrainData:
    """Reads (and so checks) every annotation file before anything is trained or written; `warn` gets the
    readers' warning lines."""
    input_size = tuple(int(v) for v in cfg.input_size)
    heatmap_size = (input_size[0] // 4, input_size[1] // 4)
    geom = SampleGeometry(input_size, heatmap_size, cfg.sigma or default_sigma(heatmap_size))
    train_set = load_dataset(cfg.train_annotations, cfg.train_images, input_size, warn)
    val_set = load_dataset(cfg.val_annotations, cfg.val_images, input_size, warn) if cfg.val_annotations else None
    if val_set is not None and val_set.keypoints.names != train_set.keypoints.names:
        raise UserError(f"validation keypoints ({len(val_set.keypoints)}) differ from the training keypoints "
                        f"({len(train_set.keypoints)}); use annotations of the same keypoint set")
    return TrainData(train_set, val_set, geom)


class Trainer:
    """One run in folder `out`; `state`: last.pth of the run being resumed (None: a new run)."""

    def __init__(self, cfg: TrainConfig, out, ctx: DistContext, device: torch.device, console: Console,
                 state: dict | None = None) -> None:
        from transpose_live.models import model_info

        self.cfg, self.out, self.ctx, self.device, self.console = cfg, out, ctx, device, console
        warnings: list[str] = []
        self.data = load_data(cfg, warnings.append)
        kset = self.data.train.keypoints
        if state is not None and state["meta"]["keypoint_names"] != list(kset.names):
            raise UserError(f"the training data has {len(kset)} keypoints but run {out} was trained on "
                            f"{state['meta']['num_keypoints']}; resume with the run's own data")
        self.validation = Validation(self.data.val, cfg.model, self.data.geom, max(cfg.batch_size, 16),
                                     flip_test=cfg.augment) if self.data.val is not None else None
        self.family = model_info(cfg.model).family
        self._build_model(state)
        augment = AugmentConfig() if cfg.augment else AugmentConfig.none()
        self.samples = TrainingSamples(self.data.train.records, kset, self.data.geom, augment, cfg.seed, cfg.repeat)
        self.sampler = DistributedSampler(self.samples, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                          seed=cfg.seed)
        self.loader = DataLoader(self.samples, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.workers, pin_memory=device.type == "cuda")
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=cfg.epochs * len(self.loader), eta_min=cfg.lr_end)
        self.amp_dtype = amp_dtype(cfg.amp, device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.saver = RunSaver(out, model_meta(cfg, self.data.train, self.data.geom),
                              self.validation.metric if self.validation else None, console)
        self.history: list[dict] = []
        self.best: float | None = None
        self.start_epoch = 0
        if state is None:
            torch.manual_seed(cfg.seed + ctx.rank)
        else:
            rs.restore(self, state)
        for line in warnings if ctx.is_main else ():  # every input accepted: now its warnings
            console.print(line, soft_wrap=True, highlight=False, markup=False)

    def _build_model(self, state: dict | None) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # the same fresh layers in every process and every run
        init = "random" if state is not None else cfg.init
        model, self.report = build_training_model(cfg.model, len(self.data.train.keypoints),
                                                  self.data.geom.input_size, init, cfg.dropout)
        if cfg.freeze_backbone:
            freeze_backbone(model, self.family)
        if state is not None:
            model.load_state_dict(state["state_dict"])
        self.model = model.to(self.device)
        self.model_ddp = self.model
        if self.ctx.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model_ddp = DistributedDataParallel(self.model, device_ids=ids)

    def describe(self) -> str:
        cfg, data = self.cfg, self.data
        h, w = data.geom.input_size
        start = self.report.line() if not self.start_epoch else f"resumed at epoch {self.start_epoch}"
        return (f"{cfg.model} {h}x{w}, {len(data.train.keypoints)} keypoints, {len(data.train)} training people, "
                f"{len(self.loader)} steps/epoch x {self.ctx.world_size} process(es) on {self.device}; {start}")

    def run(self, progress: bool = True, stop_after_epoch: int | None = None) -> TrainResult:
        """Trains epochs start_epoch .. cfg.epochs (at most stop_after_epoch of them), saving after each."""
        cfg, ctx = self.cfg, self.ctx
        if ctx.is_main:
            self.console.print(self.describe(), soft_wrap=True, highlight=False)
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("loss {task.fields[loss]:.3g}  {task.fields[rate]:.1f} crops/s"),
                       TimeElapsedColumn(), console=self.console, disable=not (progress and ctx.is_main))
        last = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, self.start_epoch + stop_after_epoch)
        if self.start_epoch >= cfg.epochs and ctx.is_main:
            self.console.print(f"run {self.out} already finished its {cfg.epochs} epochs; nothing to do "
                               "(--epochs N with a larger N extends it)", highlight=False)
        with bar:
            for epoch in range(self.start_epoch, last):
                row = self.train_epoch(epoch, bar)
                if self.validation is not None and ctx.is_main and self._validates(epoch):
                    row.update(self.validation.run(self.model, self.device))
                self.history.append(row)
                if ctx.is_main:
                    self.best = self.saver.save_epoch(self, epoch)
                else:
                    rs.gather_rng(ctx)
                ctx.barrier()
        return TrainResult(self.out, self.history, self.best, self.saver.metric, self.report.line())

    def _validates(self, epoch: int) -> bool:
        return (epoch + 1) % self.cfg.val_every == 0 or epoch + 1 == self.cfg.epochs

    def train_epoch(self, epoch: int, bar: Progress) -> dict:
        """One pass over the loader; the epoch's row of metrics.csv (without validation numbers)."""
        cfg, ctx = self.cfg, self.ctx
        self.sampler.set_epoch(epoch)
        self.samples.set_epoch(epoch)
        set_train_mode(self.model, cfg.freeze_bn, self.family, cfg.freeze_backbone)
        task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=len(self.loader), loss=float("nan"), rate=0.0)
        total_loss, seen, started = 0.0, 0, time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        for crops, maps, weights, _ in self.loader:
            loss_value = self.step(crops, maps, weights, epoch)
            total_loss += loss_value * len(crops)
            seen += len(crops)
            rate = seen * ctx.world_size / max(time.perf_counter() - started, 1e-9)
            bar.update(task, advance=1, loss=total_loss / seen, rate=rate)
        seconds = time.perf_counter() - started
        return {
            "epoch": epoch + 1,
            "step": (epoch + 1) * len(self.loader),
            "lr": lr,
            "train_loss": ctx.mean(total_loss / max(seen, 1)),
            "crops_per_s": seen * ctx.world_size / max(seconds, 1e-9),
            "seconds": seconds,
        }

    def step(self, crops, maps, weights, epoch: int) -> float:
        """One optimiser step (autocast, scaler, cosine step); the batch's loss."""
        dev = self.device
        crops, maps, weights = crops.to(dev), maps.to(dev), weights.to(dev)
        with torch.autocast(dev.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            pred = self.model_ddp(crops)
        loss = joints_mse_loss(pred.float(), maps, weights)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise UserError(f"training diverged (loss {value}) in epoch {epoch + 1}; lower --lr")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.scheduler.step()
        return value
