"""`transpose-live eval`: COCO keypoint AP of a model on a COCO-format image set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from transpose_live.cli.options import Command, run_options
from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.tables import print_table
from transpose_live.paths import OutputGuard, inside


@run_options("eval")
def eval_command(
    cfg: RunConfig,
    images: Path = typer.Option(..., "--images", help="Folder of the images (e.g. coco/val2017)."),
    annotations: Path = typer.Option(..., "--annotations", help="COCO keypoint annotations JSON, e.g. the val2017 person keypoints file."),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="COCO detection results file (image_id, category_id, bbox xywh, score)."),
    gt_boxes: bool = typer.Option(False, "--gt-boxes", help="Use the ground-truth person boxes (non-crowd)."),
    batch: int = typer.Option(64, "--batch", min=1, help="Crops per forward pass (flipped copies count); images are grouped to fill it."),
    det_thr: float = typer.Option(0.0, "--det-thr", help="Keep detections scoring at least this (with --boxes)."),
    max_images: Optional[int] = typer.Option(None, "--max-images", min=1, help="Evaluate only the first N images (by id)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="JPEG decoding threads (default: CPU count, at most 8)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the COCO keypoint results JSON here."),
    metrics_out: Optional[Path] = typer.Option(None, "--metrics-out", help="Write the ten metrics (and run facts) as JSON."),
) -> None:
    """COCO keypoint evaluation (pycocotools) with ground-truth or detector boxes; PCKh on MPII JSON annotations."""
    from transpose_live.evaluation.boxes_source import (
        count_boxes,
        detection_person_boxes,
        gt_person_boxes,
        keypoint_category,
        load_coco,
        unlabelled_people,
    )
    from transpose_live.evaluation.evaluate import evaluate_dataset, metrics_table, write_metrics
    from transpose_live.evaluation.results import write_results
    from transpose_live.engine import describe_model

    console = Console()
    from transpose_live.cli.eval_trained import check_mpii_inputs, is_mpii_file, run_mpii_eval

    model, weights, flip_test, decoder = cfg.model, cfg.weights, cfg.flip_test, cfg.decoder
    _, keypoint_set = describe_model(model, cfg.weights_value)
    if is_mpii_file(annotations):
        check_mpii_inputs(images, annotations, keypoint_set, weights, metrics_out)
        estimator = _make_estimator(cfg, batch)
        run_mpii_eval(images, annotations, estimator, str(weights), batch, metrics_out, console)
        return
    if (boxes is None) == (not gt_boxes):
        raise UserError("choose the boxes: --boxes detections.json or --gt-boxes (one of them)")
    if not images.is_dir():
        raise UserError(f"image folder not found: {images}")
    guard = OutputGuard([images, annotations, boxes])
    if out:
        guard.file(out, "--out results file")
    if metrics_out:
        guard.file(metrics_out, "--metrics-out file")
    if out and inside(out, images) or metrics_out and inside(metrics_out, images):
        raise UserError(f"outputs go outside the image folder {images}; choose another path")
    warnings: list[str] = []
    coco = load_coco(annotations, warn=warnings.append)
    category = keypoint_category(coco.cats.values())
    _check_keypoints_match(keypoint_set, category, weights, annotations)
    if gt_boxes:
        skipped = unlabelled_people(coco, sorted(coco.imgs)[:max_images])
        person_boxes = gt_person_boxes(coco)
        box_kind = f"ground-truth boxes ({skipped} people without labelled keypoints skipped)"
    else:
        skipped = None
        person_boxes = detection_person_boxes(boxes, det_thr=det_thr, image_ids=list(coco.imgs),
                                              category_id=category["id"])
        box_kind = f"detections {boxes.name} (score >= {det_thr:g})"
    for line in warnings:  # the inputs are accepted: now the reader's warning
        Console(stderr=True).print(line, soft_wrap=True, highlight=False, markup=False)
    estimator = _make_estimator(cfg, batch)
    model = estimator.spec.name
    console.print(
        f"{model} ({weights}) on {estimator.device}, {estimator.precision} on {estimator.backend}, "
        f"flip test {'on' if flip_test else 'off'}; {_image_count(coco, max_images)} images, {count_boxes(person_boxes)} {box_kind}",
        soft_wrap=True, highlight=False,
    )
    outcome = evaluate_dataset(estimator, coco, images, person_boxes, people_per_batch=batch,
                               max_images=max_images, workers=workers, console=console, progress=cfg.progress)
    outcome.info.update(model=model, weights=str(weights), boxes="gt" if gt_boxes else str(boxes),
                        det_thr=det_thr if boxes else None, flip_test=flip_test, decoder=decoder,
                        device=str(estimator.device), half=bool(estimator.half), precision=estimator.precision,
                        backend=estimator.backend, people_skipped=skipped)
    print_table(console, metrics_table(outcome.metrics, title=f"{model}: COCO keypoint metrics, {box_kind}"), text_columns=())
    console.print(f"{len(outcome.image_ids)} images, {outcome.people} people, {len(outcome.results)} results "
                  f"in {outcome.seconds:.1f}s ({outcome.images_per_s:.1f} images/s)", highlight=False)
    if out:
        console.print(f"wrote {write_results(out, outcome.results)}", soft_wrap=True, highlight=False)
    if metrics_out:
        console.print(f"wrote {write_metrics(metrics_out, outcome.to_json())}", soft_wrap=True, highlight=False)


def _check_keypoints_match(keypoint_set, category: dict, weights, annotations) -> None:
    """The model must predict the annotation category's keypoints, in the same order."""
    from transpose_live.keypoints import normal_name

    theirs = category["keypoints"]
    if [normal_name(n) for n in keypoint_set.names] != [normal_name(n) for n in theirs]:
        raise UserError(f"{weights} predicts {len(keypoint_set)} keypoints ({', '.join(keypoint_set.names[:3])}, ...) "
                        f"but {annotations} has {len(theirs)} ({', '.join(map(str, theirs[:3]))}, ...); evaluate a "
                        "model on data of its own keypoint set (MPII JSON gives PCKh)")


def _image_count(coco, max_images: int | None) -> int:
    return len(coco.imgs) if max_images is None else min(len(coco.imgs), max_images)


def _make_estimator(cfg: RunConfig, batch: int):
    """The estimator of the run; reduced precision on the CPU evaluates on OpenVINO (backend auto)."""
    from transpose_live.device import parse_precision
    from transpose_live.chain import build_estimator

    reduced = parse_precision(cfg.precision) in ("bf16", "fp16", "int8")
    if reduced and cfg.device.strip().lower().split(":")[0] != "cuda":
        cfg = cfg.replace(backend="auto")
    return build_estimator(cfg, max_batch=batch)


def register(app: typer.Typer) -> None:
    """Adds `eval` to the app."""
    app.command("eval", cls=Command)(eval_command)
