"""Frames of videos and image folders -> JPEGs in one folder + COCO keypoint annotations from a teacher.

Only confident people are kept (box score >= min_score and at least `min_keypoints` keypoints scoring
>= kpt_thr); a keypoint's visibility comes from the teacher's score (2 when >= kpt_thr, else 0 with
zeroed coordinates). The annotation file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from transpose_live.coco.annotations import check_coco
from transpose_live.errors import UserError
from transpose_live.keypoints import KEYPOINT_NAMES, SKELETON
from transpose_live.paths import write_atomic

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class LabelOutcome:
    annotations: Path
    images_dir: Path
    images: int
    people: int


def person_category() -> dict:
    return {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES),
            "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}


def person_annotation(person, ann_id: int, image_id: int, kpt_thr: float) -> dict:
    k = np.asarray(person.keypoints, np.float64).copy()
    visible = k[:, 2] >= kpt_thr
    coco_k = np.zeros((17, 3))
    coco_k[visible, :2] = np.round(k[visible, :2], 2)
    coco_k[visible, 2] = 2
    x1, y1, x2, y2 = (float(v) for v in person.box_xyxy)
    w, h = max(0.0, x2 - x1), max(0.0, y2 - y1)
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "bbox": [round(x1, 2), round(y1, 2), round(w, 2), round(h, 2)], "area": round(w * h, 2),
            "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(coco_k.reshape(-1))],
            "num_keypoints": int(visible.sum()), "score": round(person.score, 4)}


def _frames(path: Path, every: int):
    """(name stem, frame index, BGR image) of every `every`-th frame of a video, or every image of a folder/file."""
    from transpose_live.pipeline import ImageSource, open_video

    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        source = open_video(path)
        for frame in source:
            if frame.index % every == 0:
                yield f"{path.stem}_{frame.index:06d}", frame.image
        return
    for frame in ImageSource(path):
        yield Path(frame.name).stem, frame.image


def check_outputs(out: Path, images_out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; choose another --out or pass --overwrite")
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a folder; give a .json file name")
    for target in (out.parent, images_out):
        probe = target
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise UserError(f"cannot write {target}: {probe} is a file, not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise UserError(f"cannot write {target}: {probe} is not writable")


@dataclass(frozen=True)
class Selection:
    """Which teacher people become labels: box score >= min_score and at least `min_keypoints` keypoints
    scoring >= kpt_thr (those are the visible ones, v=2)."""

    min_score: float = 0.5
    kpt_thr: float = 0.5
    min_keypoints: int = 5

    def keep(self, people) -> list:
        return [p for p in people
                if p.score >= self.min_score and (p.keypoints[:, 2] >= self.kpt_thr).sum() >= self.min_keypoints]


def label_sources(inputs: list[Path], teacher, out: Path, images_out: Path | None = None, every: int = 1,
                  selection: Selection = Selection(), overwrite: bool = False, progress: bool = True,
                  console: Console | None = None) -> LabelOutcome:
    """Labels every `every`-th frame / every image of `inputs`; writes JPEGs to images_out and COCO JSON to out."""
    out = Path(out)
    images_out = Path(images_out) if images_out else out.with_name(out.stem + "_images")
    if every < 1:
        raise UserError("--every must be at least 1")
    for p in inputs:
        if not Path(p).exists():
            raise UserError(f"input not found: {p}")
    check_outputs(out, images_out, overwrite)
    try:
        images_out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {images_out}: {exc.strerror or exc}") from None
    console = console or Console(stderr=True)
    bar = Progress(TextColumn("[bold]label"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                   TextColumn("{task.fields[people]} people"), TimeElapsedColumn(), console=console,
                   disable=not progress)
    with bar:
        task = bar.add_task("label", total=None, people=0)
        images, annotations = _label_frames(inputs, teacher, images_out, every, selection, bar, task)
    if not annotations:
        raise UserError(f"the teacher found no person scoring >= {selection.min_score} with "
                        f"{selection.min_keypoints}+ keypoints in the inputs; lower --min-score or check the inputs")
    data = {"info": {"description": "transpose-live label (teacher pseudo-labels)"}, "images": images,
            "annotations": annotations, "categories": [person_category()]}
    check_coco(data, out)  # what train and eval read: label's own output must pass unchanged
    write_atomic(out, json.dumps(data), "annotation file")
    return LabelOutcome(out, images_out, len(images), len(annotations))


def _label_frames(inputs, teacher, images_out: Path, every: int, selection: Selection, bar, task):
    """(images, annotations) of the frames where the teacher found people to keep; JPEGs into images_out."""
    images, annotations = [], []
    for src in inputs:
        for stem, image in _frames(Path(src), every):
            people = selection.keep(teacher(image, selection.min_score))
            bar.update(task, advance=1)
            if not people:
                continue
            image_id = len(images) + 1
            name = f"{stem}.jpg"
            if not cv2.imwrite(str(images_out / name), image):
                raise UserError(f"cannot write {images_out / name}")
            h, w = image.shape[:2]
            images.append({"id": image_id, "file_name": name, "width": w, "height": h})
            for person in people:
                annotations.append(person_annotation(person, len(annotations) + 1, image_id, selection.kpt_thr))
            bar.update(task, people=len(annotations))
    return images, annotations
