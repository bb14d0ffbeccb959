"""`--blur`: on real COCO photos (coco-mini) every face with visible head keypoints is hidden. A face
region is the box of its ground-truth head keypoints (nose, eyes, ears; at least two visible, 8 px
or more apart: smaller faces hold nothing to recognise) padded by a quarter of their spread. Hidden
means its pixels changed beyond a threshold: on average by at least 0.2 of the region's own
contrast (its standard deviation: a flat region has nothing to hide), and its fine detail (mean
absolute Laplacian: edges of eyes, mouth, hair) at most half what it was.

Unit part: the ground-truth keypoints fed as poses to `blur_frame`. End to end: `image --blur faces`
with the YOLO11n-pose person detector (the pose model's fill weights place no face, so a person's
face comes from the top of its box there), compared with the same run without --blur."""

from __future__ import annotations

import collections
import functools

import cv2
import numpy as np
import pytest
from helpers import COCO_MINI, require_shared

from transpose_live.cli import main
from transpose_live.config import RunConfig
from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17
from transpose_live.pipeline.blur import blur_frame, blur_mode
from transpose_live.pipeline.render import render_frame
from transpose_live.poses import Poses


@functools.lru_cache(maxsize=1)
def coco_people() -> list[tuple]:
    """[(image path, ground-truth Poses)] for the coco-mini images with people holding keypoints."""
    from transpose_live.coco.annotations import has_keypoints, read_coco

    out = []
    for split in ("val2017", "train2017"):
        data = read_coco(require_shared(COCO_MINI / "annotations" / f"person_keypoints_{split}.json"), warn=None).data
        anns = collections.defaultdict(list)
        for a in data["annotations"]:
            if has_keypoints(a) and not a["iscrowd"]:
                anns[a["image_id"]].append(a)
        for img in data["images"]:
            path = COCO_MINI / split / img["file_name"]
            if anns.get(img["id"]) and path.exists():
                k = np.array([a["keypoints"] for a in anns[img["id"]]], np.float32).reshape(-1, 17, 3)
                k[..., 2] = k[..., 2] > 0  # visible or occluded-but-labelled: score 1
                boxes = np.array([a["bbox"] for a in anns[img["id"]]], np.float32)
                boxes[:, 2:] += boxes[:, :2]
                out.append((path, Poses(k, boxes, np.ones(len(k), np.float32))))
    return out


def face_regions(poses: Poses, with_person: bool = False) -> list:
    """The face region (x1, y1, x2, y2) of each person with a visible face (`with_person`: (region,
    person index))."""
    regions = []
    for i, kpts in enumerate(poses.keypoints):
        head = kpts[:5][kpts[:5, 2] > 0, :2]
        if len(head) < 2 or np.max(head.max(0) - head.min(0)) < 8:
            continue
        pad = 0.25 * np.max(head.max(0) - head.min(0))
        x1, y1 = np.maximum(np.floor(head.min(0) - pad), 0).astype(int)
        x2, y2 = np.ceil(head.max(0) + pad).astype(int)
        regions.append(((x1, y1, x2, y2), i) if with_person else (x1, y1, x2, y2))
    return regions


def hidden(before: np.ndarray, after: np.ndarray, region, drawn: np.ndarray | None = None) -> tuple[bool, float, float]:
    """Whether `region` of `after` hides what `before` shows; `drawn`: pixels drawings cover (left out)."""
    x1, y1, x2, y2 = region
    a = cv2.cvtColor(before, cv2.COLOR_BGR2GRAY)[y1:y2, x1:x2].astype(np.float32)
    b = cv2.cvtColor(after, cv2.COLOR_BGR2GRAY)[y1:y2, x1:x2].astype(np.float32)
    keep = np.ones(a.shape, bool) if drawn is None else ~cv2.dilate(drawn[y1:y2, x1:x2].astype(np.uint8), np.ones((5, 5))).astype(bool)
    if keep.sum() < 20:
        keep[:] = True
    la, lb = (np.abs(cv2.Laplacian(x, cv2.CV_32F))[keep].mean() for x in (a, b))
    mean = float(np.abs(a - b)[keep].mean() / max(a[keep].std(), 1.0))
    detail = float(lb / max(la, 1e-3))
    return mean >= 0.2 and detail <= 0.5, mean, detail


def test_every_face_with_visible_head_keypoints_is_hidden():
    faces, missed = 0, []
    for path, poses in coco_people():
        image = cv2.imread(str(path))
        out = blur_frame(image.copy(), poses, "faces", COCO17, kpt_thr=0.5)
        for region in face_regions(poses):
            faces += 1
            ok, mean, detail = hidden(image, out, region)
            if not ok:
                missed.append((path.name, region, round(mean, 2), round(detail, 2)))
    assert faces >= 50 and not missed, (faces, missed)


def test_people_hides_whole_persons_and_keeps_the_skeleton():
    path, poses = next((p, q) for p, q in coco_people() if len(face_regions(q)) >= 2)
    image = cv2.imread(str(path))
    people = blur_frame(image.copy(), poses, "people")
    for region in face_regions(poses):
        assert hidden(image, people, region)[0]
    plain = render_frame(image, poses, 0.5)
    hid = render_frame(image, poses, 0.5, blur="people")
    from transpose_live.pipeline.render import CENTRE, LEFT, RIGHT

    limbs = np.zeros(image.shape[:2], bool)  # the skeleton's solid pixels (edges blend with what is below)
    for colour in (LEFT, RIGHT, CENTRE):
        limbs |= (plain == colour).all(-1) & (image != colour).any(-1)
    assert limbs.sum() > 500 and (hid[limbs] == plain[limbs]).all()
    outside = np.ones(image.shape[:2], bool)
    for x1, y1, x2, y2 in poses.boxes.astype(int):
        outside[max(y1, 0):y2 + 1, max(x1, 0):x2 + 1] = False
    assert np.array_equal(hid[outside], plain[outside])  # nothing outside the people changes


def test_blur_mode_defaults():
    assert blur_mode(RunConfig.for_command("video")) == "none"
    assert blur_mode(RunConfig.for_command("video", serve="127.0.0.1:8080")) == "none"
    assert blur_mode(RunConfig.for_command("webcam", serve="0.0.0.0:8080")) == "faces"  # leaves the machine
    assert blur_mode(RunConfig.for_command("webcam", serve="0.0.0.0:8080", blur="none")) == "none"
    with pytest.raises(UserError, match="--blur"):
        blur_mode(RunConfig(blur="eyes"))


@pytest.mark.slow
def test_image_command_hides_the_faces_it_finds(common, tmp_path):
    """End to end with the detector's boxes: every face of a person the detector found (a ground-truth
    box matched at IoU >= 0.5) is hidden in `image --blur faces` (pixels the run without --blur draws
    on are left out of the comparison with the input)."""
    import json

    from transpose_live.tracking.association import box_iou

    picked = [(p, q) for p, q in coco_people() if face_regions(q)][:8]
    inputs = [str(p) for p, _ in picked]
    json_path = tmp_path / "p.jsonl"
    assert main(["image", *inputs, "--out", str(tmp_path / "plain"), *common]) == 0
    assert main(["image", *inputs, "--out", str(tmp_path / "blur"), "--blur", "faces", "--json", str(json_path),
                 *common]) == 0
    found = {r["image"]: np.array([p["box"] for p in r["persons"]], np.float32).reshape(-1, 4)
             for r in map(json.loads, json_path.read_text().splitlines())}
    faces, missed = 0, []
    for path, poses in picked:
        image = cv2.imread(str(path))
        plain, blurred = cv2.imread(str(tmp_path / "plain" / path.name)), cv2.imread(str(tmp_path / "blur" / path.name))
        drawn = (cv2.absdiff(plain, image) > 40).any(-1)  # skeleton, boxes, labels (JPEG noise stays below)
        for region, i in face_regions(poses, with_person=True):
            if not len(found[path.name]) or box_iou(poses.boxes[i:i + 1], found[path.name]).max() < 0.5:
                continue
            faces += 1
            ok, mean, detail = hidden(image, blurred, region, drawn)
            if not ok:
                missed.append((path.name, region, round(mean, 2), round(detail, 2)))
    assert faces >= 10 and not missed, (faces, missed)
