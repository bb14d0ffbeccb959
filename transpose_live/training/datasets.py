"""Annotation files -> person records: COCO keypoints (any keypoint count) and MPII (HRNet-style JSON).

A record is one person: image path, joints (J, 3) [x, y, visible] in 0-based frame pixels, and the
crop's center and scale (w, h in units of 200 px, padding included) in the inference convention.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from transpose_live.coco.annotations import CocoFile, check_coco, gt_box, print_warning
from transpose_live.engine.boxes import PADDING, PIXEL_STD, box_to_center_scale
from transpose_live.errors import UserError, first_line
from transpose_live.training.keypoint_set import MPII16, KeypointSet, from_coco_category

MPII_CENTER_SHIFT = 15.0  # the reference loaders move the center down by 15 * scale px
MPII_SCALE_PAD = 1.25


@dataclass
class PersonRecord:
    image: Path
    joints: np.ndarray  # (J, 3) x, y, visible (0/1), frame pixels
    center: np.ndarray  # (2,)
    scale: np.ndarray  # (2,) w, h / 200, padded
    image_id: int = 0
    extra: dict = field(default_factory=dict)  # e.g. head_size for PCKh

    def box_xyxy(self) -> np.ndarray:
        """The person box whose inference crop (`engine.boxes.box_to_center_scale`) is this record's center/scale."""
        half = np.asarray(self.scale, np.float64) * (PIXEL_STD / PADDING) / 2.0
        return np.concatenate([self.center - half, self.center + half])


@dataclass
class PoseDataset:
    """The records of one annotation file and the keypoint set they use."""

    records: list[PersonRecord]
    keypoints: KeypointSet
    kind: str  # "coco" | "mpii"
    annotations: Path
    images_dir: Path

    def __len__(self) -> int:
        return len(self.records)


def _read_json(path: Path):
    if not Path(path).is_file():
        raise UserError(f"annotation file not found: {path}")
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"annotation file {path} is not valid JSON: {first_line(exc)}") from None


def detect_format(data) -> str:
    """'coco' (dict with images/annotations) or 'mpii' (list of {image, center, scale, joints})."""
    if isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list):
        return "coco"
    if isinstance(data, list) and data and isinstance(data[0], dict) and {"image", "joints"} <= data[0].keys():
        return "mpii"
    return "unknown"


def load_dataset(annotations: str | Path, images_dir: str | Path, input_size: tuple[int, int],
                 warn: Callable[[str], None] | None = print_warning) -> PoseDataset:
    """Reads COCO or MPII annotations (format detected from the content); every image must exist.

    warn: gets the reader's one warning line (fields filled in) once the file is accepted."""
    annotations, images_dir = Path(annotations), Path(images_dir)
    if not images_dir.is_dir():
        raise UserError(f"image folder not found: {images_dir}")
    data = _read_json(annotations)
    kind = detect_format(data)
    if kind == "coco":
        coco = check_coco(data, annotations)
        ds = _coco_records(coco, images_dir, input_size)
    elif kind == "mpii":
        ds = _mpii_records(data, annotations, images_dir, input_size)
    else:
        raise UserError(f"annotation file {annotations} is neither COCO keypoints (images/annotations) "
                        "nor MPII JSON (a list of {image, center, scale, joints, joints_vis})")
    missing = sorted({str(r.image) for r in ds.records if not r.image.is_file()})
    if missing:
        raise UserError(f"{len(missing)} image(s) of {annotations.name} missing in {images_dir}, "
                        f"e.g. {Path(missing[0]).name}; check --*-images")
    if kind == "coco" and coco.warning and warn is not None:
        warn(coco.warning)
    return ds


def _coco_records(coco: CocoFile, images_dir: Path, input_size) -> PoseDataset:
    path, cat = coco.path, coco.category
    kset = from_coco_category(cat)
    n = len(kset)
    images = {img["id"]: img for img in coco.data["images"]}
    aspect = input_size[1] / input_size[0]
    ours = [a for a in coco.data["annotations"] if a["category_id"] == cat["id"]]
    labelled = [a for a in ours if not a["iscrowd"] and (np.asarray(a["keypoints"])[2::3] > 0).any()]
    records = []
    for ann in labelled:
        img = images.get(ann["image_id"])
        box = None if img is None else gt_box(ann, img.get("width"), img.get("height"))
        if box is None:
            continue
        joints = np.asarray(ann["keypoints"], np.float64).reshape(n, 3)
        joints[:, 2] = (joints[:, 2] > 0).astype(np.float64)
        center, scale = box_to_center_scale(torch.tensor([box], dtype=torch.float64), aspect)
        records.append(PersonRecord(images_dir / img["file_name"], joints, center[0].numpy(), scale[0].numpy(),
                                    int(img["id"]), {"area": float(ann["area"])}))
    if not ours:
        raise UserError(f"annotation file {path} has no annotations of its keypoint category "
                        f"{cat.get('name', '?')!r} (id {cat.get('id')})")
    if not records:
        raise UserError(f"annotation file {path} has no person annotations with {n} keypoints "
                        f"({len(labelled)} with keypoints but no usable box)" if labelled else
                        f"annotation file {path} has no annotations with keypoints (all missing or all zero)")
    return PoseDataset(records, kset, "coco", path, images_dir)


def _mpii_records(data: list, path: Path, images_dir: Path, input_size) -> PoseDataset:
    aspect = input_size[1] / input_size[0]
    n = len(MPII16)
    records = []
    for i, entry in enumerate(data):
        try:
            joints_xy = np.asarray(entry["joints"], np.float64).reshape(n, 2) - 1.0  # MATLAB 1-based
            vis = np.asarray(entry.get("joints_vis", [1] * n), np.float64).reshape(n)
            center = np.asarray(entry["center"], np.float64).reshape(2) - 1.0
            s = float(entry["scale"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"MPII file {path}, entry {i}: needs image, center [x, y], scale, joints [[x, y] * 16]"
                            ", joints_vis") from None
        if s <= 0:
            continue
        center[1] += MPII_CENTER_SHIFT * s
        h = s * MPII_SCALE_PAD
        scale = np.asarray([h * aspect, h])
        extra = {}
        if "headbox" in entry:
            x1, y1, x2, y2 = (float(v) for v in entry["headbox"])
            extra["head_size"] = 0.6 * float(np.hypot(x2 - x1, y2 - y1))
        joints = np.concatenate([joints_xy, (vis > 0)[:, None].astype(np.float64)], axis=1)
        records.append(PersonRecord(images_dir / str(entry["image"]), joints, center, scale, i, extra))
    if not records:
        raise UserError(f"MPII file {path} holds no person with a positive scale")
    _add_mat_head_sizes(records, path, len(data))
    return PoseDataset(records, MPII16, "mpii", path, images_dir)


def _add_mat_head_sizes(records: list[PersonRecord], path: Path, count: int) -> None:
    """Head sizes from the official `gt_valid.mat` beside the JSON (headboxes_src, entries in the same order)
    for people whose entry has no 'headbox'; used only when its person count equals the JSON's."""
    mat = path.with_name("gt_valid.mat")
    if all("head_size" in r.extra for r in records) or not mat.is_file():
        return
    from scipy.io import loadmat

    try:
        boxes = np.asarray(loadmat(str(mat))["headboxes_src"], np.float64)  # (2, 2, N): corner, xy, person
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"cannot read head boxes from {mat}: {first_line(exc)}") from None
    if boxes.ndim != 3 or boxes.shape[:2] != (2, 2) or boxes.shape[2] != count:
        return
    sizes = 0.6 * np.linalg.norm(boxes[1] - boxes[0], axis=0)
    for r in records:
        r.extra.setdefault("head_size", float(sizes[r.image_id]))

