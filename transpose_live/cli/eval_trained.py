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


def run_mpii_eval(images: Path, annotations: Path, weights: str, device, flip_test: bool, decoder: str, batch: int,
                  metrics_out: Path | None, console: Console) -> dict:
    """PCKh@0.5 and @0.1 (standard table) of a 16-keypoint training checkpoint on MPII JSON annotations."""
    from transpose_live.device import resolve_device
    from transpose_live.evaluation.evaluate import write_metrics
    from transpose_live.evaluation.pckh import pckh, pckh_table
    from transpose_live.training.datasets import load_dataset
    from transpose_live.training.keypoint_set import MPII16
    from transpose_live.training.predict import predict_records
    from transpose_live.training.samples import SampleGeometry
    from transpose_live.training.targets import default_sigma
    from transpose_live.training.trained import load_trained

    trained = load_trained(weights) if weights and weights not in ("official", "random") else None
    if trained is None or trained.keypoints.names != MPII16.names:
        raise UserError(f"MPII evaluation needs a 16-keypoint MPII checkpoint written by `train`; {weights} is not one")
    dev = resolve_device(device)
    dataset = load_dataset(annotations, images, trained.spec.input_size)
    missing = [r for r in dataset.records if "head_size" not in r.extra]
    if missing:
        raise UserError(f"{annotations} lacks head boxes ('headbox': [x1, y1, x2, y2]) for {len(missing)} people; "
                        "PCKh needs them")
    import numpy as np

    geom = SampleGeometry(trained.spec.input_size, trained.spec.heatmap_size, default_sigma(trained.spec.heatmap_size))
    model = trained.module.to(dev)
    keypoints, _ = predict_records(model, dataset.records, MPII16, geom, dev, batch, flip_test,
                                   shift_flipped=not trained.spec.is_transpose, decoder=decoder)
    gt = np.stack([r.joints for r in dataset.records])
    head = np.asarray([r.extra["head_size"] for r in dataset.records])
    results = [pckh(keypoints[..., :2], gt[..., :2], gt[..., 2], head, alpha) for alpha in (0.5, 0.1)]
    console.print(pckh_table(results, title=f"{trained.spec.name}: MPII PCKh, {len(dataset)} people"))
    def num(v):  # JSON has no NaN: a joint that never counts is null
        return None if not np.isfinite(v) else float(v)

    payload = {
        "metrics": {"PCKh": num(results[0]["table"]["Mean"]), "PCKh@0.1": num(results[1]["table"]["Mean"]),
                    **{f"PCKh_{k}": num(v) for k, v in results[0]["table"].items() if k != "Mean"}},
        "per_joint": {n: num(v) for n, v in zip(MPII16.names, results[0]["per_joint"])},
        "people": len(dataset), "model": trained.spec.name, "weights": str(weights),
    }
    if metrics_out:
        console.print(f"wrote {write_metrics(metrics_out, payload)}", soft_wrap=True, highlight=False)
    return payload
