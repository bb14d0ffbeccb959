"""`eval` with checkpoints written by `train` (their own input size / keypoints) and on MPII data (PCKh)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from transpose_live.errors import UserError


def is_mpii_file(annotations: Path) -> bool:
    """True for an MPII JSON list ({image, center, scale, joints, ...} entries)."""
    from transpose_live.training.datasets import detect_format

    if not Path(annotations).is_file():
        return False
    try:
        with open(annotations, "rb") as f:
            if f.read(64).lstrip()[:1] != b"[":
                return False
        return detect_format(json.loads(Path(annotations).read_text())) == "mpii"
    except (OSError, ValueError):
        return False


def check_mpii_inputs(images: Path, annotations: Path, keypoint_set, weights: str, metrics_out: Path | None) -> None:
    """Before any model is loaded: the weights predict MPII's 16 joints, the image folder exists, and the
    metrics file is a writable path that is no input."""
    from transpose_live.paths import OutputGuard
    from transpose_live.training.keypoint_set import MPII16

    if keypoint_set.names != MPII16.names:
        raise UserError(f"MPII evaluation needs a 16-keypoint MPII checkpoint written by `train`; {weights} "
                        f"predicts {len(keypoint_set)} keypoints")
    if not images.is_dir():
        raise UserError(f"image folder not found: {images}")
    if metrics_out:
        OutputGuard([images, annotations]).file(metrics_out, "--metrics-out file")


def run_mpii_eval(images: Path, annotations: Path, estimator, weights: str, batch: int, metrics_out: Path | None,
                  console: Console) -> dict:
    """PCKh@0.5 and @0.1 (standard table) of an estimator of a 16-keypoint `train` checkpoint on MPII JSON
    annotations: the annotations' people (their own crops) through `PoseEstimator`, PCKh by `evaluation.pckh`."""
    import numpy as np

    from transpose_live.evaluation.evaluate import write_metrics
    from transpose_live.evaluation.pckh import pckh_metrics, pckh_results, pckh_table
    from transpose_live.evaluation.people import estimate_people
    from transpose_live.training.datasets import load_dataset
    from transpose_live.training.keypoint_set import MPII16

    dataset = load_dataset(annotations, images, estimator.spec.input_size)
    missing = [r for r in dataset.records if "head_size" not in r.extra]
    if missing:
        raise UserError(f"{annotations} lacks head boxes ('headbox': [x1, y1, x2, y2]) for {len(missing)} people; "
                        "PCKh needs them")
    records = dataset.records
    keypoints = estimate_people(estimator, [r.image for r in records], np.stack([r.box_xyxy() for r in records]),
                                people_per_batch=batch)
    results = pckh_results(keypoints, np.stack([r.joints for r in records]),
                           np.asarray([r.extra["head_size"] for r in records]))
    console.print(pckh_table(results, title=f"{estimator.spec.name}: MPII PCKh, {len(dataset)} people"))

    def num(v):  # JSON has no NaN: a joint that never counts is null
        return None if not np.isfinite(v) else float(v)

    payload = {
        "metrics": {k: num(v) for k, v in pckh_metrics(results).items()},
        "per_joint": {n: num(v) for n, v in zip(MPII16.names, results[0]["per_joint"])},
        "people": len(dataset), "model": estimator.spec.name, "weights": weights,
    }
    if metrics_out:
        console.print(f"wrote {write_metrics(metrics_out, payload)}", soft_wrap=True, highlight=False)
    return payload
