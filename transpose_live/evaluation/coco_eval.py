"""Scoring with pycocotools `COCOeval(iouType="keypoints")`: the ten standard numbers."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

from transpose_live.errors import UserError

METRIC_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def evaluate_keypoints(coco_gt, results, image_ids=None, verbose: bool = False) -> dict[str, float]:
    """COCOeval keypoint stats as {name: value}.

    results: a list of results entries or the path of a results JSON file. image_ids restricts the
    evaluation to those images (default: every image of the ground truth, as pycocotools does).
    An empty results list scores 0 everywhere (pycocotools cannot load one).
    verbose: let pycocotools print its own summary.
    Keypoint sets other than COCO-17 (a custom category) are scored with `keypoints.DEFAULT_SIGMA` for
    every joint, as `keypoints.oks_sigmas` gives (pycocotools' own sigmas are COCO's 17).
    """
    import numpy as np
    from pycocotools.cocoeval import COCOeval

    from transpose_live.keypoints import oks_sigmas

    if isinstance(results, str | Path):
        try:
            results = json.loads(Path(results).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read results file {results}: {exc}") from None
    if not results:
        return {name: 0.0 for name in METRIC_NAMES}
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        try:
            coco_dt = coco_gt.loadRes(copy.deepcopy(list(results)))  # loadRes adds fields in place
        except (AssertionError, KeyError, IndexError, TypeError) as exc:
            raise UserError(f"results do not match the annotation file: {exc or type(exc).__name__}") from None
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(oks_sigmas(len(results[0]["keypoints"]) // 3))
        category_ids = {int(r["category_id"]) for r in results}
        evaluator.params.catIds = sorted(category_ids & set(coco_gt.getCatIds())) or evaluator.params.catIds
        if image_ids is not None:
            evaluator.params.imgIds = sorted(int(i) for i in image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(METRIC_NAMES, evaluator.stats)}
