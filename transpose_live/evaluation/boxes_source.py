"""Person boxes to evaluate on: COCO ground truth, or a COCO detection results file.

Both give `{image_id: (boxes (N,4) float32 xyxy, scores (N,) float32)}`, highest score first.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from transpose_live.coco.annotations import (
    PERSON_CATEGORY,
    gt_box,
    has_keypoints,
    keypoint_category,
    print_warning,
    read_coco,
)
from transpose_live.errors import UserError, first_line

BoxesByImage = dict[int, tuple[np.ndarray, np.ndarray]]


def load_coco(annotations: str | Path, warn=print_warning):
    """pycocotools `COCO` for a keypoint annotation file read by `coco.annotations.read_coco` (labelling
    tools' files accepted, one warning line when fields were filled in); a one-line UserError if unusable."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = read_coco(annotations, warn).data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def _read_json(path: Path, what: str):
    """Parsed JSON of `path`; a one-line UserError naming `what` when missing or malformed."""
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{what} {path} is not valid JSON: {first_line(exc)}") from None


def _gt_people(coco, image_id: int, category_id: int):
    """(annotation, labelled) for the non-crowd people of the category with area > 0 in one image."""
    for ann in coco.imgToAnns.get(image_id, []):
        if ann["category_id"] == category_id and not ann["iscrowd"] and ann["area"] > 0:
            yield ann, has_keypoints(ann)


def gt_person_boxes(coco) -> BoxesByImage:
    """Ground-truth person boxes per image as the spec's GT-box protocol takes them (spec 2.7): people of the
    `keypoint_category`, non-crowd, area > 0, with at least one labelled keypoint; each box clipped to the
    image; score 1. `unlabelled_people` counts the people left out for lack of keypoints."""
    category = keypoint_category(coco.cats.values())
    category_id = PERSON_CATEGORY if category is None else category["id"]
    out: BoxesByImage = {}
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        boxes = []
        for ann, labelled in _gt_people(coco, image_id, category_id):
            box = gt_box(ann, info.get("width"), info.get("height")) if labelled else None
            if box is not None:
                x, y, w, h = box
                boxes.append((x, y, x + w, y + h))
        out[image_id] = (np.asarray(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes), np.float32))
    return out


def unlabelled_people(coco, image_ids=None) -> int:
    """Non-crowd people (area > 0) without any labelled keypoint, which `gt_person_boxes` leaves out."""
    category = keypoint_category(coco.cats.values())
    category_id = PERSON_CATEGORY if category is None else category["id"]
    ids = sorted(coco.imgs) if image_ids is None else image_ids
    return sum(not labelled for i in ids for _, labelled in _gt_people(coco, i, category_id))


def detection_person_boxes(path: str | Path, det_thr: float = 0.0, image_ids=None,
                           category_id: int = PERSON_CATEGORY) -> BoxesByImage:
    """Person detections (category 1, or `category_id`; score >= det_thr) from a COCO results file (bbox xywh).

    image_ids: when given, every one gets an entry (empty if undetected) and detections of other
    images are dropped.
    """
    path = Path(path)
    data = _read_json(path, "detection file")
    if not isinstance(data, list):
        raise UserError(f"detection file {path} must be a JSON list of {{image_id, category_id, bbox, score}}")
    per_image: dict[int, list[tuple[float, tuple[float, ...]]]] = {}
    for i, det in enumerate(data):
        image_id, category, box, score = _parse_detection(det, i, path)
        if category != category_id or score < det_thr or box[2] <= 0 or box[3] <= 0:
            continue
        x, y, w, h = box
        per_image.setdefault(image_id, []).append((score, (x, y, x + w, y + h)))
    wanted = sorted(per_image) if image_ids is None else sorted(image_ids)
    out: BoxesByImage = {}
    for image_id in wanted:
        dets = sorted(per_image.get(image_id, []), key=lambda d: -d[0])
        out[image_id] = (
            np.asarray([d[1] for d in dets], np.float32).reshape(-1, 4),
            np.asarray([d[0] for d in dets], np.float32),
        )
    return out


def _parse_detection(det, index: int, path: Path):
    where = f"detection file {path}, entry {index}"
    if not isinstance(det, dict):
        raise UserError(f"{where} is not an object")
    missing = [k for k in ("image_id", "category_id", "bbox", "score") if k not in det]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}")
    box = det["bbox"]
    try:
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise TypeError
        return int(det["image_id"]), int(det["category_id"]), tuple(float(v) for v in box), float(det["score"])
    except (TypeError, ValueError):
        raise UserError(f"{where}: image_id/category_id must be integers, bbox [x, y, w, h], score a number") \
            from None


def count_boxes(boxes: BoxesByImage) -> int:
    return int(sum(len(b) for b, _ in boxes.values()))
