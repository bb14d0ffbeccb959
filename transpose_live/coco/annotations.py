"""The one reader of COCO keypoint annotation files, for `train`, `eval` and `label`.

Files as labelling tools write them are accepted: JSON booleans for `iscrowd`, a missing `iscrowd` (0),
`num_keypoints` (joints with visibility > 0), `area` (box width x height) or `keypoints` (an unlabelled
person: all zero) -- filled in with one warning line saying how many -- and any extra fields. Only what pycocotools cannot score is refused, in one line.

    >>> from transpose_live.coco.annotations import read_coco
    >>> read_coco("person_keypoints_val2017.json").category["keypoints"][:2]
    ['nose', 'left_eye']
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transpose_live.errors import UserError, first_line

PERSON_CATEGORY = 1
FILLABLE = ("keypoints", "iscrowd", "num_keypoints", "area")


@dataclass
class CocoFile:
    """A checked annotation file: `data` with every fillable field present (ints for iscrowd and
    num_keypoints, a number for area), the evaluated keypoint `category`, and what was filled in."""

    data: dict
    category: dict
    path: Path
    filled: dict[str, int] = field(default_factory=dict)

    @property
    def warning(self) -> str | None:
        """One line naming how many fields were filled in (None when the file had them all)."""
        parts = [f"{name} of {n}" for name, n in self.filled.items() if n]
        if not parts:
            return None
        return (f"warning: {self.path.name}: filled in {', '.join(parts)} annotation(s) "
                "(iscrowd true/false as 1/0, num_keypoints from visibility > 0, area from the box, "
                "no keypoints as unlabelled)")


def print_warning(line: str) -> None:
    print(line, file=sys.stderr)


def read_coco(path: str | Path, warn: Callable[[str], None] | None = print_warning) -> CocoFile:
    """Reads and checks `path`; `warn` gets the one warning line when fields were filled in."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"annotation file {path} is not valid JSON: {first_line(exc)}") from None
    coco = check_coco(data, path)
    if warn is not None and coco.warning:
        warn(coco.warning)
    return coco


def check_coco(data, path: str | Path) -> CocoFile:
    """`data` (parsed JSON) checked and completed as `read_coco` does; the input is not modified."""
    path = Path(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise UserError(f"annotation file {path} is not a COCO file (needs 'images' and 'annotations' lists)")
    data = copy.copy(data)
    data["images"] = [_image(img, i, path) for i, img in enumerate(data["images"])]
    category = keypoint_category(data.get("categories") or [])
    if category is None:
        raise UserError(f"annotation file {path} has no person category with keypoints "
                        "(use person_keypoints_*.json, or a file with one category listing its keypoint names)")
    filled = dict.fromkeys(FILLABLE, 0)
    values = 3 * len(category["keypoints"])
    data["annotations"] = [_annotation(ann, i, path, category["id"], values, filled)
                           for i, ann in enumerate(data["annotations"])]
    return CocoFile(data, category, path, filled)


def keypoint_category(categories) -> dict | None:
    """The category whose keypoints are evaluated: the person category (id 1) when it lists keypoints,
    else the only category that does (a custom keypoint set); None when there is none."""
    listed = [c for c in categories if isinstance(c, dict) and isinstance(c.get("keypoints"), list)
              and _is_int(c.get("id"))]
    person = next((c for c in listed if c["id"] == PERSON_CATEGORY), None)
    return person or (listed[0] if len(listed) == 1 else None)


def _image(img, index: int, path: Path) -> dict:
    if not isinstance(img, dict) or not {"id", "file_name"} <= img.keys():
        raise UserError(f"annotation file {path}: every image needs 'id' and 'file_name' (image {index})")
    if not _is_int(img["id"]) or not isinstance(img["file_name"], str):
        raise UserError(f"annotation file {path}, image {index}: 'id' must be an integer and 'file_name' a string")
    return img


def _annotation(ann, index: int, path: Path, category_id: int, values: int, filled: dict[str, int]) -> dict:
    """One annotation, checked; a completed copy when a fillable field is missing or a boolean."""
    if not isinstance(ann, dict):
        raise UserError(f"annotation file {path}: annotation {index} is not an object")
    missing = [k for k in ("id", "image_id", "category_id", "bbox") if k not in ann]
    if missing:
        raise UserError(f"annotation file {path}: annotation {index} lacks {', '.join(missing)}")
    where = f"annotation file {path}, annotation {index} (id {ann['id']!r})"
    if not all(_is_int(ann[k]) for k in ("id", "image_id", "category_id")):
        raise UserError(f"{where}: id, image_id and category_id must be integers")
    if not _numbers(ann["bbox"], 4):
        raise UserError(f"{where}: bbox must be [x, y, width, height] numbers, got {ann['bbox']!r}")
    ours = ann["category_id"] == category_id
    fixed = {}
    if ours and "keypoints" not in ann:  # a person without keypoint labels: scored as unlabelled
        fixed["keypoints"] = [0] * values
    kpts = fixed.get("keypoints", ann.get("keypoints"))
    if ours and not _numbers(kpts, values):
        raise UserError(f"{where}: keypoints must be {values} numbers (x, y, v for each of the "
                        f"{values // 3} keypoints), got {_length(kpts)}")
    crowd = ann.get("iscrowd", None)
    if crowd is None or isinstance(crowd, bool):
        fixed["iscrowd"] = int(bool(crowd))
    elif not (_is_int(crowd) and crowd in (0, 1)):
        raise UserError(f"{where}: iscrowd must be 0/1 or true/false, got {crowd!r}")
    if "num_keypoints" not in ann and ours:
        fixed["num_keypoints"] = int((np.asarray(kpts, np.float64)[2::3] > 0).sum())
    elif "num_keypoints" in ann and not _is_int(ann["num_keypoints"]):
        raise UserError(f"{where}: num_keypoints must be an integer, got {ann['num_keypoints']!r}")
    if "area" not in ann:
        fixed["area"] = float(max(0.0, ann["bbox"][2]) * max(0.0, ann["bbox"][3]))
    elif not _numbers([ann["area"]], 1):
        raise UserError(f"{where}: area must be a number, got {ann['area']!r}")
    for name in fixed:
        filled[name] += 1
    return dict(ann, **fixed) if fixed else ann


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _length(value) -> str:
    return f"{len(value)} values" if isinstance(value, list) else type(value).__name__


def has_keypoints(ann: dict) -> bool:
    """The reference loader's test for a labelled person: some value of its keypoints array above 0."""
    kpts = ann.get("keypoints")
    return isinstance(kpts, list) and len(kpts) > 0 and max(kpts) > 0


def gt_box(ann: dict, width=None, height=None) -> tuple[float, float, float, float] | None:
    """An annotation's box as the spec's GT-box protocol feeds the crop (spec 2.7): xywh clipped to the image,
    x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)) (y alike); None when x2 < x1 or y2 < y1."""
    x, y, w, h = (float(v) for v in ann["bbox"])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = x1 + max(0.0, w - 1.0), y1 + max(0.0, h - 1.0)
    if width and height:
        x2, y2 = min(float(width) - 1.0, x2), min(float(height) - 1.0, y2)
    if x2 < x1 or y2 < y1:
        return None
    return x1, y1, x2 - x1, y2 - y1
