"""Person boxes to evaluate on: COCO ground truth, or a COCO detection results file.

Both give `{image_id: (boxes (N,4) float32 xyxy, scores (N,) float32)}`, highest score first.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError, first_line

PERSON_CATEGORY = 1
BoxesByImage = dict[int, tuple[np.ndarray, np.ndarray]]


def load_coco(annotations: str | Path):
    """pycocotools `COCO` for a keypoint annotation file; a one-line UserError if it is unusable."""
    from pycocotools.coco import COCO

    path = Path(annotations)
    data = _read_json(path, "annotation file")
    _check_annotations(data, path)
    coco = COCO()
    coco.dataset = data
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


def _check_annotations(data, path: Path) -> None:
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise UserError(f"annotation file {path} is not a COCO file (needs 'images' and 'annotations' lists)")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not {"id", "file_name"} <= img.keys():
            raise UserError(f"annotation file {path}: every image needs 'id' and 'file_name' (image {i})")
        if not _is_int(img["id"]) or not isinstance(img["file_name"], str):
            raise UserError(f"annotation file {path}, image {i}: 'id' must be an integer and 'file_name' a string")
    person = keypoint_category(data.get("categories") or [])
    if person is None:
        raise UserError(f"annotation file {path} has no person category with keypoints "
                        "(use person_keypoints_*.json, or a file with one category listing its keypoint names)")
    values = 3 * len(person["keypoints"])
    needed = {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "keypoints", "num_keypoints"}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not needed <= ann.keys():
            missing = sorted(needed - set(ann)) if isinstance(ann, dict) else sorted(needed)
            raise UserError(f"annotation file {path}: annotation {i} lacks {', '.join(missing)}")
        where = f"annotation file {path}, annotation {i} (id {ann['id']!r})"
        if not all(_is_int(ann[k]) for k in ("id", "image_id", "category_id")):
            raise UserError(f"{where}: id, image_id and category_id must be integers")
        if not _numbers(ann["bbox"], 4):
            raise UserError(f"{where}: bbox must be [x, y, width, height] numbers, got {ann['bbox']!r}")
        if not _numbers([ann["area"]], 1) or not _is_int(ann["iscrowd"]) or not _is_int(ann["num_keypoints"]):
            raise UserError(f"{where}: area must be a number, iscrowd and num_keypoints integers")
        if ann["category_id"] == person["id"] and not _numbers(ann["keypoints"], values):
            raise UserError(f"{where}: keypoints must be {values} numbers (x, y, v for each of the "
                            f"{values // 3} keypoints), got {_length(ann['keypoints'])}")


def keypoint_category(categories) -> dict | None:
    """The category whose keypoints are evaluated: the person category (id 1) when it lists keypoints,
    else the only category that does (a custom keypoint set); None when there is none."""
    listed = [c for c in categories if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and "id" in c]
    person = next((c for c in listed if c["id"] == PERSON_CATEGORY), None)
    return person or (listed[0] if len(listed) == 1 else None)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _length(value) -> str:
    return f"{len(value)} values" if isinstance(value, list) else type(value).__name__


def gt_person_boxes(coco) -> BoxesByImage:
    """Ground-truth person boxes per image (of the `keypoint_category`): non-crowd, area > 0, clipped to
    the image; score 1."""
    category = keypoint_category(coco.cats.values())
    category_id = PERSON_CATEGORY if category is None else category["id"]
    out: BoxesByImage = {}
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        width, height = info.get("width"), info.get("height")
        boxes = []
        for ann in coco.imgToAnns.get(image_id, []):
            if ann["category_id"] != category_id or ann["iscrowd"] or ann["area"] <= 0:
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            x1, y1, x2, y2 = max(0.0, x), max(0.0, y), x + max(0.0, w), y + max(0.0, h)
            if width and height:
                x2, y2 = min(float(width), x2), min(float(height), y2)
            if x2 > x1 and y2 > y1:
                boxes.append((x1, y1, x2, y2))
        out[image_id] = (np.asarray(boxes, np.float32).reshape(-1, 4), np.ones(len(boxes), np.float32))
    return out


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
