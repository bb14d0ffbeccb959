"""COCO keypoint evaluation: boxes -> PoseEstimator -> rescoring/OKS-NMS -> results JSON -> COCOeval.

    >>> from transpose_live.evaluation import evaluate_dataset, load_coco, gt_person_boxes
"""

from transpose_live.evaluation.boxes_source import detection_person_boxes, gt_person_boxes, load_coco
from transpose_live.evaluation.coco_eval import METRIC_NAMES, evaluate_keypoints
from transpose_live.evaluation.evaluate import EvalOutcome, evaluate_dataset
from transpose_live.coco import rescore, results_records
from transpose_live.evaluation.rescore import oks_matrix, oks_nms
from transpose_live.evaluation.results import write_results

__all__ = [
    "METRIC_NAMES", "EvalOutcome", "detection_person_boxes", "evaluate_dataset", "evaluate_keypoints",
    "gt_person_boxes", "load_coco", "oks_matrix", "oks_nms", "results_records", "rescore", "write_results",
]
