"""COCO keypoint evaluation: boxes -> PoseEstimator -> rescoring/OKS-NMS -> results JSON -> COCOeval.

    >>> from transpose_live.evaluation import evaluate_dataset, load_coco, gt_person_boxes
"""

from transpose_live.evaluation.boxes_source import detection_person_boxes, gt_person_boxes, load_coco
from transpose_live.evaluation.coco_eval import METRIC_NAMES, evaluate_keypoints
from transpose_live.evaluation.evaluate import EvalOutcome, evaluate_dataset
from transpose_live.evaluation.rescore import oks_nms, oks_matrix, rescore
from transpose_live.evaluation.results import poses_to_results, write_results

__all__ = [
    "METRIC_NAMES", "EvalOutcome", "detection_person_boxes", "evaluate_dataset", "evaluate_keypoints",
    "gt_person_boxes", "load_coco", "oks_matrix", "oks_nms", "poses_to_results", "rescore", "write_results",
]
