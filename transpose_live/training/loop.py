"""The training run (spec 3): Adam (weight decay 1e-4), cosine decay lr -> lr_min per step, MSE heatmap
loss, per-epoch validation, last/best checkpoints, metrics.csv, curves.png, exact --resume, DDP.

    >>> from transpose_live.training import TrainConfig, train
    >>> train(TrainConfig(model="tp_r_a3", train_images="imgs", train_annotations="ann.json"), "runs/a")
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.utils.data import DataLoader, DistributedSampler

from transpose_live.device import resolve_device
from transpose_live.errors import UserError
from transpose_live.training import run_dir as rd
from transpose_live.training.augmentation import AugmentConfig
from transpose_live.training.datasets import PoseDataset, load_dataset
from transpose_live.training.distributed import DistContext, process_device, setup_distributed
from transpose_live.training.loss import joints_mse_loss
from transpose_live.training.model_setup import build_training_model, freeze_backbone, set_train_mode
from transpose_live.training.samples import SampleGeometry, TrainingSamples
from transpose_live.training.targets import default_sigma
from transpose_live.training.validate import headline_metric, validate


@dataclass
class TrainConfig:
    model: str
    train_images: str
    train_annotations: str
    val_images: str | None = None
    val_annotations: str | None = None
    init: str = "official"
    epochs: int = 10
    batch_size: int = 20  # per process
    lr: float = 1e-4
    lr_min: float | None = None  # default lr / 10
    weight_decay: float = 1e-4
    input_size: tuple[int, int] = (256, 192)
    device: str = "auto"
    workers: int = 2
    freeze_backbone: bool = False
    freeze_bn: bool = False
    dropout: float | None = None
    augment: bool = True
    seed: int = 0
    val_every: int = 1
    repeat: int = 1  # passes over the training people per epoch
    amp: str = "auto"  # auto (bf16 or fp16 on CUDA, off on CPU) | off | fp16 | bf16
    sigma: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["input_size"] = tuple(d.get("input_size", (256, 192)))
        return cls(**d)


@dataclass
class TrainResult:
    run_dir: Path
    history: list[dict]
    best: float | None
    metric: str | None
    init_report: str


def _check_config(cfg: TrainConfig) -> None:
    if cfg.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if cfg.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if cfg.repeat < 1:
        raise UserError("--repeat must be at least 1")
    if cfg.lr <= 0:
        raise UserError("--lr must be positive")
    if (cfg.val_images is None) != (cfg.val_annotations is None):
        raise UserError("give both --val-images and --val-annotations (or neither)")
    if cfg.amp not in ("auto", "off", "fp16", "bf16"):
        raise UserError(f"--amp must be auto, off, fp16 or bf16; got {cfg.amp!r}")
    from transpose_live.models import model_info

    model_info(cfg.model)


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if amp == "fp16" else torch.bfloat16


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # saved with more GPUs visible than this process sees now: restore the ones that exist
        for index, device_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state, index)


def model_meta(cfg: TrainConfig, dataset: PoseDataset, geom: SampleGeometry) -> dict:
    return {
        "model": cfg.model,
        "input_size": list(geom.input_size),
        "heatmap_size": list(geom.heatmap_size),
        "num_keypoints": len(dataset.keypoints),
        "dataset_kind": dataset.kind,
        **dataset.keypoints.to_meta(),
    }


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True, console: Console | None = None, stop_after_epoch: int | None = None) -> TrainResult:
    """Runs (or, with resume, continues) a training run in folder `out`.

    stop_after_epoch: end after that many finished epochs as if interrupted (the run stays resumable).
    """
    out = Path(out)
    console = console or Console(stderr=True)
    state = None
    if resume:
        state = rd.load_run_state(out)
        cfg = TrainConfig.from_dict(dict(state["config"], device=cfg.device, workers=cfg.workers))
    _check_config(cfg)
    device = resolve_device(cfg.device)
    ctx = setup_distributed(device)
    try:
        return _run(cfg, out, state, overwrite, progress, console, stop_after_epoch, ctx,
                    process_device(device, ctx))
    finally:
        ctx.close()


def _run(cfg, out, state, overwrite, progress, console, stop_after_epoch, ctx: DistContext, device) -> TrainResult:
    if state is None and ctx.is_main:
        rd.check_new_run_dir(out, overwrite)
    input_size = tuple(int(v) for v in cfg.input_size)
    heatmap_size = (input_size[0] // 4, input_size[1] // 4)
    geom = SampleGeometry(input_size, heatmap_size, cfg.sigma or default_sigma(heatmap_size))
    train_set = load_dataset(cfg.train_annotations, cfg.train_images, input_size)
    val_set = load_dataset(cfg.val_annotations, cfg.val_images, input_size) if cfg.val_annotations else None
    kset = train_set.keypoints
    if val_set is not None and val_set.keypoints.names != kset.names:
        raise UserError(f"validation keypoints ({len(val_set.keypoints)}) differ from the training keypoints "
                        f"({len(kset)}); use annotations of the same keypoint set")
    if state is not None and state["meta"]["keypoint_names"] != list(kset.names):
        raise UserError(f"the training data has {len(kset)} keypoints but run {out} was trained on "
                        f"{state['meta']['num_keypoints']}; resume with the run's own data")
    from transpose_live.models import model_info

    family = model_info(cfg.model).family
    init = "random" if state is not None else cfg.init
    torch.manual_seed(cfg.seed)  # the same fresh layers in every process and every run
    model, report = build_training_model(cfg.model, len(kset), input_size, init, cfg.dropout)
    if cfg.freeze_backbone:
        freeze_backbone(model, family)
    if state is not None:
        model.load_state_dict(state["state_dict"])
    model.to(device)
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        model_ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    else:
        model_ddp = model

    augment = AugmentConfig() if cfg.augment else AugmentConfig.none()
    samples = TrainingSamples(train_set.records, kset, geom, augment, cfg.seed, cfg.repeat)
    sampler = DistributedSampler(samples, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(samples, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    steps_per_epoch = len(loader)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_min = cfg.lr / 10 if cfg.lr_min is None else cfg.lr_min
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs * steps_per_epoch,
                                                           eta_min=lr_min)
    amp_dtype = _amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    metric = headline_metric(val_set)
    meta = model_meta(cfg, train_set, geom)

    history: list[dict] = []
    best: float | None = None
    start_epoch = 0
    if state is None:
        torch.manual_seed(cfg.seed + ctx.rank)
        if ctx.is_main:
            rd.create_run_dir(out, overwrite)
    else:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"][min(ctx.rank, len(state["rng"]) - 1)])
        history, best, start_epoch = list(state["history"]), state.get("best"), int(state["epoch"])
    ctx.barrier()
    if ctx.is_main:
        console.print(f"{cfg.model} {input_size[0]}x{input_size[1]}, {len(kset)} keypoints, "
                      f"{len(train_set)} training people, {steps_per_epoch} steps/epoch x {ctx.world_size} "
                      f"process(es) on {device}; {report.line() if state is None else f'resumed at epoch {start_epoch}'}",
                      soft_wrap=True, highlight=False)

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.3g}  {task.fields[rate]:.1f} crops/s"), TimeElapsedColumn(),
                   console=console, disable=not (progress and ctx.is_main), transient=False)
    last_epoch = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, start_epoch + stop_after_epoch)
    if start_epoch >= cfg.epochs and ctx.is_main:
        console.print(f"run {out} already finished its {cfg.epochs} epochs; nothing to do", highlight=False)
    with bar:
        for epoch in range(start_epoch, last_epoch):
            row = _train_epoch(model, model_ddp, loader, sampler, samples, optimizer, scheduler, scaler, amp_dtype,
                               device, cfg, family, epoch, bar, ctx)
            if val_set is not None and ctx.is_main and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs):
                row.update(validate(model, cfg.model, family, val_set, geom, device, batch=max(cfg.batch_size, 16),
                                    flip_test=augment.flip_prob > 0))
            history.append(row)
            if ctx.is_main:
                best = _save_epoch(out, model, meta, cfg, optimizer, scheduler, scaler, history, best, metric, epoch,
                                   ctx, console, has_val=val_set is not None)
            else:
                _gather_rng(ctx)
            ctx.barrier()
    return TrainResult(out, history, best, metric, report.line())


def _train_epoch(model, model_ddp, loader, sampler, samples, optimizer, scheduler, scaler, amp_dtype, device, cfg,
                 family, epoch, bar, ctx) -> dict:
    sampler.set_epoch(epoch)
    samples.set_epoch(epoch)
    set_train_mode(model, cfg.freeze_bn, family, cfg.freeze_backbone)
    task = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=len(loader), loss=float("nan"), rate=0.0)
    total_loss, seen, started = 0.0, 0, time.perf_counter()
    lr = optimizer.param_groups[0]["lr"]
    for crops, maps, weights, _ in loader:
        crops, maps, weights = crops.to(device), maps.to(device), weights.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            pred = model_ddp(crops)
        loss = joints_mse_loss(pred.float(), maps, weights)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise UserError(f"training diverged (loss {loss_value}) in epoch {epoch + 1}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        total_loss += loss_value * len(crops)
        seen += len(crops)
        elapsed = time.perf_counter() - started
        bar.update(task, advance=1, loss=total_loss / seen, rate=seen * ctx.world_size / max(elapsed, 1e-9))
    seconds = time.perf_counter() - started
    return {
        "epoch": epoch + 1,
        "step": (epoch + 1) * len(loader),
        "lr": lr,
        "train_loss": ctx.mean(total_loss / max(seen, 1)),
        "crops_per_s": seen * ctx.world_size / max(seconds, 1e-9),
        "seconds": seconds,
    }


def _gather_rng(ctx: DistContext) -> list[dict] | None:
    """Every process's RNG state, collected on the main process (None elsewhere)."""
    if not ctx.enabled:
        return [_rng_state()]
    import torch.distributed as dist

    states = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(_rng_state(), states, dst=0)
    return states


def _save_epoch(out, model, meta, cfg, optimizer, scheduler, scaler, history, best, metric, epoch, ctx,
                console, has_val: bool) -> float | None:
    """Writes last.pth, best.pth (best validation number so far; the latest epoch without validation data),
    metrics.csv and curves.png; returns the best number."""
    row = history[-1]
    value = row.get(metric) if metric else (-row["val_loss"] if row.get("val_loss") is not None else None)
    state = model.state_dict()
    epoch_meta = dict(meta, epoch=epoch + 1, metrics={k: v for k, v in row.items() if isinstance(v, float)})
    if not has_val or (value is not None and (best is None or value > best)):
        best = value if has_val else None
        rd.save_checkpoint(out / rd.BEST, state, epoch_meta)
    rd.save_checkpoint(out / rd.LAST, state, epoch_meta, optimizer=optimizer.state_dict(),
                       scheduler=scheduler.state_dict(), scaler=scaler.state_dict() if scaler else None,
                       rng=_gather_rng(ctx), epoch=epoch + 1, history=history, best=best, config=cfg.to_dict())
    rd.write_metrics_csv(out, history)
    rd.write_plot(out, history, metric)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k in ("train_loss", "val_loss", "AP", "PCKh"))
    console.print(f"epoch {epoch + 1}/{cfg.epochs}: {shown}", highlight=False)
    return best
