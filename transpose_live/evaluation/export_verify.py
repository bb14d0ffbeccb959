"""`export --verify`: what an export's precision costs, measured against the same model in fp32.

The reference is the source weights on OpenVINO at fp32 (the same runtime, so only the precision
differs), both without the flip test (each crop's own error, not averaged away); the export runs as a
user's run would (`--precision auto`: its INT8, or bf16 on CPUs that
have it). With COCO annotations both are scored by the project's evaluation (ground-truth boxes,
pycocotools AP); always, on the same people, the keypoint drift against fp32: median and p95 in image
pixels and the share of keypoints moved by more than one heatmap pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from transpose_live.engine import PoseEstimator
from transpose_live.engine.boxes import box_to_center_scale, xyxy_to_xywh
from transpose_live.errors import UserError
from transpose_live.images import try_read_image

AP_KEYS = ("AP", "AP50", "AP75", "AR")
MAX_IMAGES = 200


def verify_export(export_path, model, weights, images, annotations=None, max_images: int = MAX_IMAGES,
                  detector_weights=None, console: Console | None = None) -> dict:
    """The verification record stored in the export's metadata (`verify`)."""
    reference = PoseEstimator(model, weights, device="cpu", backend="openvino", precision="fp32", flip_test=False)
    candidate = PoseEstimator(None, str(export_path), device="cpu", backend="openvino", precision="auto",
                              flip_test=False)
    images = Path(images)
    if not images.is_dir():
        raise UserError(f"--images folder not found: {images}")
    record = {"reference": "fp32 (openvino, source weights)", "precision": candidate.precision,
              "runtime": candidate.backend, "flip_test": False}
    if annotations is not None:
        from transpose_live.evaluation.boxes_source import gt_person_boxes, load_coco  # noqa: PLC0415
        from transpose_live.evaluation.evaluate import evaluate_dataset, image_jobs  # noqa: PLC0415

        coco = load_coco(annotations)
        boxes = gt_person_boxes(coco)
        before = evaluate_dataset(reference, coco, images, boxes, max_images=max_images, console=console, progress=False)
        after = evaluate_dataset(candidate, coco, images, boxes, max_images=max_images, console=console, progress=False)
        record.update(boxes="ground truth", images=len(before.image_ids),
                      fp32={k: round(before.metrics[k], 4) for k in AP_KEYS},
                      export={k: round(after.metrics[k], 4) for k in AP_KEYS})
        jobs = [(j.path, j.boxes) for j in image_jobs(coco, images, boxes, max_images) if len(j.boxes)]
    else:
        jobs = detected_jobs(images, max_images, detector_weights)
        record.update(boxes="detector", images=len(jobs))
    record.update(keypoint_drift(reference, candidate, jobs))
    return record


def detected_jobs(images: Path, max_images: int, detector_weights=None) -> list[tuple[Path, np.ndarray]]:
    """(image path, person boxes) from the project's detector, for images without annotations."""
    from transpose_live.pipeline.detector import build_detector  # noqa: PLC0415
    from transpose_live.pipeline.sources import list_images  # noqa: PLC0415

    detector = build_detector("yolo", detector_weights, device="cpu", pose_backend="torch")
    jobs = []
    for path in list_images(images)[:max_images]:
        image = try_read_image(path)
        if image is not None:
            boxes, _ = detector(image)
            if len(boxes):
                jobs.append((path, np.asarray(boxes, np.float32)))
    return jobs


def keypoint_drift(reference: PoseEstimator, candidate: PoseEstimator, jobs) -> dict:
    """Median / p95 keypoint distance (image px) and the share moved over one heatmap pixel, same boxes."""
    distances, pixel = [], []
    heat_w = candidate.spec.heatmap_size[1]
    aspect = reference.spec.input_size[1] / reference.spec.input_size[0]
    for path, boxes in jobs:
        image = try_read_image(path)
        if image is None:
            continue
        a = reference.estimate(image, boxes).keypoints[..., :2]
        b = candidate.estimate(image, boxes).keypoints[..., :2]
        distances.append(np.linalg.norm(a - b, axis=-1).ravel())
        _, scale = box_to_center_scale(xyxy_to_xywh(torch.from_numpy(boxes)), aspect)
        per_person = scale[:, 0].numpy() * 200.0 / heat_w  # image px per heatmap px
        pixel.append(np.repeat(per_person, a.shape[1]))
    if not distances:
        raise UserError("--verify found no people to compare; give --images with people (or --annotations)")
    d, px = np.concatenate(distances), np.concatenate(pixel)
    return {"people": int(sum(len(b) for _, b in jobs)), "drift_median_px": round(float(np.median(d)), 3),
            "drift_p95_px": round(float(np.percentile(d, 95)), 3),
            "moved_over_1_heatmap_px": round(float(np.mean(d > px)), 4)}


def verify_table(record: dict, title: str) -> Table:
    """The verification record as rows: metric | fp32 | export | change."""
    table = Table(title=title)
    for name in ("metric", "fp32", record["precision"], "change"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for key in AP_KEYS if "fp32" in record else ():
        before, after = record["fp32"][key], record["export"][key]
        table.add_row(key, f"{before:.3f}", f"{after:.3f}", f"{after - before:+.3f}")
    table.add_row("keypoint drift, median px", "0", f"{record['drift_median_px']:.2f}", "")
    table.add_row("keypoint drift, p95 px", "0", f"{record['drift_p95_px']:.2f}", "")
    table.add_row("keypoints moved > 1 heatmap px", "0%", f"{100 * record['moved_over_1_heatmap_px']:.1f}%", "")
    return table
