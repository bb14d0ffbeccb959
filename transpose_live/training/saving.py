"""After each epoch: last.pth (everything --resume needs), best.pth (best validation number so far; the
latest epoch without validation data), metrics.csv and curves.png in the run folder."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from transpose_live.training import run_dir as rd
from transpose_live.training.config import TrainConfig
from transpose_live.training.datasets import PoseDataset
from transpose_live.training.resume import gather_rng
from transpose_live.training.samples import SampleGeometry


def model_meta(cfg: TrainConfig, dataset: PoseDataset, geom: SampleGeometry) -> dict:
    """What inference needs to rebuild the model: name, sizes and keypoint set (a checkpoint's `meta`)."""
    return {
        "model": cfg.model,
        "input_size": list(geom.input_size),
        "heatmap_size": list(geom.heatmap_size),
        "num_keypoints": len(dataset.keypoints),
        "dataset_kind": dataset.kind,
        **dataset.keypoints.to_meta(),
    }


class RunSaver:
    """Writes a run folder's files; `metric` names the number that picks best.pth (None: the val loss)."""

    def __init__(self, out: str | Path, meta: dict, metric: str | None, console: Console) -> None:
        self.out, self.meta, self.metric, self.console = Path(out), meta, metric, console

    def value(self, row: dict) -> float | None:
        """The row's number for best.pth (higher is better)."""
        if self.metric:
            return row.get(self.metric)
        return -row["val_loss"] if row.get("val_loss") is not None else None

    def save_epoch(self, trainer, epoch: int) -> float | None:
        """Saves the state of `trainer` (a `Trainer`) after `epoch`; returns the best number so far."""
        row, best, has_val = trainer.history[-1], trainer.best, trainer.validation is not None
        value = self.value(row)
        state = trainer.model.state_dict()
        epoch_meta = dict(self.meta, epoch=epoch + 1, metrics={k: v for k, v in row.items() if isinstance(v, float)})
        if not has_val or (value is not None and (best is None or value > best)):
            best = value if has_val else None
            rd.save_checkpoint(self.out / rd.BEST, state, epoch_meta)
        rd.save_checkpoint(self.out / rd.LAST, state, epoch_meta, optimizer=trainer.optimizer.state_dict(),
                           scheduler=trainer.scheduler.state_dict(),
                           scaler=trainer.scaler.state_dict() if trainer.scaler else None,
                           rng=gather_rng(trainer.ctx), epoch=epoch + 1, history=trainer.history, best=best,
                           config=trainer.cfg.to_dict())
        rd.write_metrics_csv(self.out, trainer.history)
        rd.write_plot(self.out, trainer.history, self.metric)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k in ("train_loss", "val_loss", "AP", "PCKh"))
        self.console.print(f"epoch {epoch + 1}/{trainer.cfg.epochs}: {shown}", highlight=False)
        return best
