"""Evaluation run: prefetching loader -> PoseEstimator.estimate_batch -> rescoring/OKS-NMS ->
COCO results -> COCOeval, with a progress bar (images/s), a rich table and a metrics JSON."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from transpose_live.errors import UserError
from transpose_live.paths import write_atomic
from transpose_live.evaluation.boxes_source import PERSON_CATEGORY, BoxesByImage, keypoint_category
from transpose_live.evaluation.coco_eval import METRIC_NAMES, evaluate_keypoints
from transpose_live.evaluation.image_loader import ImageJob, PrefetchLoader
from transpose_live.coco import KEYPOINT_THRESHOLD, rescore, results_records
from transpose_live.evaluation.rescore import OKS_NMS_THRESHOLD, crop_areas, oks_nms


@dataclass
class EvalOutcome:
    """What one evaluation produced."""

    results: list[dict]
    metrics: dict[str, float]
    image_ids: list[int]
    people: int
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return len(self.image_ids) / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        """Metrics plus the run's facts, for `--metrics-out`."""
        return {
            "metrics": self.metrics,
            "images": len(self.image_ids),
            "people": self.people,
            "results": len(self.results),
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            **self.info,
        }


class _RateColumn(ProgressColumn):
    """images/s from rich's own speed estimate."""

    def render(self, task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("-- img/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.1f} img/s", style="progress.data.speed")


def image_jobs(coco, images_dir: str | Path, boxes: BoxesByImage, max_images: int | None = None) -> list[ImageJob]:
    """The images to evaluate (sorted by id, at most max_images), each with its boxes."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise UserError(f"image folder not found: {images_dir}")
    ids = sorted(coco.imgs)
    if max_images is not None:
        if max_images < 1:
            raise UserError("--max-images must be at least 1")
        ids = ids[:max_images]
    jobs = []
    for image_id in ids:
        b, s = boxes.get(image_id, (None, None))
        if b is None:
            continue
        jobs.append(ImageJob(image_id, images_dir / coco.imgs[image_id]["file_name"], b, s))
    return jobs


def evaluate_dataset(
    estimator,
    coco,
    images_dir: str | Path,
    boxes: BoxesByImage,
    people_per_batch: int = 64,
    max_images: int | None = None,
    workers: int | None = None,
    kpt_thr: float = KEYPOINT_THRESHOLD,
    console: Console | None = None,
    progress: bool = True,
) -> EvalOutcome:
    """Runs the estimator over the images' boxes and scores the poses with COCOeval.

    Images without boxes are not decoded (they still count in the evaluation: their people are
    misses). The evaluation covers the selected images only (all of them unless max_images).
    """
    category = keypoint_category(coco.cats.values())
    category_id = PERSON_CATEGORY if category is None else category["id"]
    jobs = image_jobs(coco, images_dir, boxes, max_images)
    selected = [j.image_id for j in jobs]
    todo = [j for j in jobs if len(j.boxes)]
    loader = PrefetchLoader(todo, people_per_batch=people_per_batch, workers=workers)
    console = console or Console(stderr=True)
    results: list[dict] = []
    people = 0
    start = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TextColumn("images"), _RateColumn(),
        TimeElapsedColumn(), console=console, disable=not progress, transient=False,
    )
    with bar:
        task = bar.add_task("eval", total=len(jobs), completed=len(jobs) - len(todo))  # no boxes: nothing to run
        for batch in loader:
            poses_list = estimator.estimate_batch(
                batch.frames, [j.boxes for j in batch.jobs], [j.scores for j in batch.jobs]
            )
            for job, poses in zip(batch.jobs, poses_list):
                results.extend(_image_results(job.image_id, poses, kpt_thr, category_id))
                people += len(poses)
            bar.update(task, advance=len(batch.jobs))
    seconds = time.perf_counter() - start
    metrics = evaluate_keypoints(coco, results, image_ids=selected)
    return EvalOutcome(results, metrics, selected, people, seconds)


def _image_results(image_id: int, poses, kpt_thr: float, category_id: int) -> list[dict]:
    """Rescored poses of one image after OKS-NMS (spec 2.6) as results entries."""
    if len(poses) == 0:
        return []
    scores = rescore(poses.keypoints, poses.box_scores, kpt_thr)
    keep = oks_nms(poses.keypoints, scores, crop_areas(poses.boxes), OKS_NMS_THRESHOLD)
    return results_records(image_id, poses.keypoints[keep], scores[keep], category_id)


def metrics_table(metrics: dict[str, float], title: str = "COCO keypoints") -> Table:
    """The ten numbers as a rich table (values in %; '-' where pycocotools gives -1: no such people)."""
    table = Table(title=title)
    for name in METRIC_NAMES:
        table.add_column(name, justify="right")
    table.add_row(*(f"{100 * metrics[name]:.1f}" if metrics[name] >= 0 else "-" for name in METRIC_NAMES))
    return table


def write_metrics(path: str | Path, payload: dict) -> Path:
    return write_atomic(path, json.dumps(payload, indent=2), "metrics file")
