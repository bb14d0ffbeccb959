"""The one COCO annotation reader (`coco.annotations`): a COCO-Annotator-style file (JSON booleans for iscrowd,
no num_keypoints / area, extra fields) made from coco-mini scores exactly as the clean file in pycocotools and
is accepted by `eval` and `train` with one warning line; only what pycocotools cannot score is refused, in one
line; `label`'s own output reads back unchanged."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from helpers import COCO_MINI, assert_one_line_error, cli, coco_subset, require_shared, single_person_images, train_args
from transpose_live.coco.annotations import check_coco, read_coco
from transpose_live.errors import UserError

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


def box_areas(data, every=3):
    """`data` with the area of every `every`-th annotation set to its box's, as a tool would write it."""
    for i, ann in enumerate(data["annotations"]):
        if i % every == 0:
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    return data


def annotator_style(src, dst):
    """`src` as COCO Annotator and similar tools write it, leaving out the box areas of `box_areas`;
    returns (path, #num_keypoints dropped, #area dropped)."""
    data = json.loads(src.read_text())
    dropped_n = dropped_area = 0
    for i, ann in enumerate(data["annotations"]):
        ann["iscrowd"] = bool(ann["iscrowd"])
        ann.update(isbbox=True, color="#a1b2c3", metadata={}, creator="someone")
        if i % 2 == 0:
            del ann["num_keypoints"]
            dropped_n += 1
        if i % 3 == 0:
            del ann["area"]
            dropped_area += 1
    for img in data["images"]:
        img.update(path=f"/datasets/coco/{img['file_name']}", annotated=True, events=[])
    data["categories"][0]["color"] = "#ffffff"
    dst.write_text(json.dumps(data))
    return dst, dropped_n, dropped_area


def perturbed_results(data, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for ann in data["annotations"]:
        if ann["iscrowd"] or not max(ann["keypoints"]):
            continue
        k = np.asarray(ann["keypoints"], float).reshape(-1, 3)
        k[:, :2] += rng.normal(0, 4, k[:, :2].shape)
        k[:, 2] = 1.0
        out.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": k.ravel().tolist(),
                    "score": float(rng.uniform(0.5, 1))})
    return out


def test_annotator_file_reads_with_one_warning_and_scores_as_the_clean_file(tmp_path):
    require_shared(VAL_ANN)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from transpose_live.evaluation import evaluate_keypoints, load_coco

    path, dropped_n, dropped_area = annotator_style(VAL_ANN, tmp_path / "annotator.json")
    lines: list[str] = []
    messy = read_coco(path, warn=lines.append)
    assert len(lines) == 1 and lines[0].startswith("warning: annotator.json")
    assert messy.filled == {"keypoints": 0, "iscrowd": len(messy.data["annotations"]), "num_keypoints": dropped_n,
                            "area": dropped_area}
    assert f"num_keypoints of {dropped_n}" in lines[0] and f"area of {dropped_area}" in lines[0]
    clean = json.loads(VAL_ANN.read_text())
    for a, b in zip(messy.data["annotations"], clean["annotations"]):
        assert a["num_keypoints"] == b["num_keypoints"] and a["iscrowd"] == b["iscrowd"] and a["color"] == "#a1b2c3"
    assert json.loads(path.read_text())["annotations"][0]["iscrowd"] is False  # the input is untouched

    results = perturbed_results(clean)
    clean_path = tmp_path / "clean.json"  # the same people with every field written (areas from the boxes)
    clean_path.write_text(json.dumps(box_areas(clean)))
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools itself on the clean file
        gt = COCO(str(clean_path))
        ev = COCOeval(gt, gt.loadRes(results), iouType="keypoints")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    ours = evaluate_keypoints(load_coco(path, warn=None), results)
    np.testing.assert_allclose(list(ours.values()), ev.stats, rtol=0, atol=1e-12)
    assert 0.1 < ours["AP"] < 0.99


@pytest.mark.parametrize("change, needle", [
    (lambda a: a.update(iscrowd="yes"), "iscrowd must be 0/1 or true/false"),
    (lambda a: a.update(keypoints=[1, 2, 2]), "keypoints must be 51 numbers"),
    (lambda a: a.pop("bbox"), "lacks bbox"),
    (lambda a: a.update(image_id="7"), "must be integers"),
    (lambda a: a.update(area="big"), "area must be a number"),
])
def test_what_pycocotools_cannot_score_is_one_line(tmp_path, change, needle):
    require_shared(VAL_ANN)
    data = json.loads(VAL_ANN.read_text())
    change(data["annotations"][3])
    with pytest.raises(UserError, match=needle) as err:
        check_coco(data, tmp_path / "x.json")
    assert "\n" not in str(err.value)


def test_label_output_reads_back_unchanged(tmp_path):
    from types import SimpleNamespace

    from transpose_live.labelling.label import person_annotation, person_category

    rng = np.random.default_rng(1)
    people = [SimpleNamespace(keypoints=np.c_[rng.uniform(0, 300, (17, 2)), rng.uniform(0, 1, 17)],
                              box_xyxy=np.array([10.5, 20.25, 200.0, 310.0]), score=0.87) for _ in range(3)]
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 320, "height": 320}],
            "annotations": [person_annotation(p, i + 1, 1, 0.5) for i, p in enumerate(people)],
            "categories": [person_category()]}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))
    lines: list[str] = []
    back = read_coco(path, warn=lines.append)
    assert lines == [] and not any(back.filled.values()) and back.data == data


@pytest.mark.slow
def test_eval_and_train_accept_the_annotator_file(tmp_path):
    """`eval --gt-boxes` prints the warning once and the same metrics as on the clean file; `train` with the
    file as training and validation data runs."""
    require_shared(VAL_ANN)
    ids = single_person_images(VAL_ANN, count=2)
    clean = coco_subset(VAL_ANN, tmp_path / "clean.json", ids)
    messy, _, _ = annotator_style(clean, tmp_path / "annotator.json")
    clean.write_text(json.dumps(box_areas(json.loads(clean.read_text()))))
    common = ["--images", VAL_IMG, "--gt-boxes", "--model", "tp_r_a3", "--weights", "random", "--device", "cpu",
              "--no-flip-test", "--no-progress"]
    outs = []
    for ann in (clean, messy):
        metrics = tmp_path / f"{ann.stem}.metrics.json"
        done = cli("eval", "--annotations", ann, *common, "--metrics-out", metrics)
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append((json.loads(metrics.read_text())["metrics"], done.stderr.count("warning: ")))
    assert outs[0][0] == outs[1][0] and (outs[0][1], outs[1][1]) == (0, 1)
    run = tmp_path / "run"
    done = cli(*train_args(messy, run, "--val-images", VAL_IMG, "--val-annotations", messy))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("warning: annotator.json") == 2  # training and validation file, once each
    assert (run / "best.pth").is_file()


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_train_checks_the_validation_file_before_any_epoch(tmp_path):
    """A validation file `eval` refuses stops `train` at start-up: one line, exit 2, no run folder."""
    require_shared(VAL_ANN)
    ann = coco_subset(VAL_ANN, tmp_path / "two.json", single_person_images(VAL_ANN, count=2))
    bad = json.loads(VAL_ANN.read_text())
    bad["annotations"][5]["keypoints"] = bad["annotations"][5]["keypoints"][:-3]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    ev = cli("eval", "--images", VAL_IMG, "--annotations", tmp_path / "bad.json", "--gt-boxes", "--device", "cpu")
    assert_one_line_error(ev, "keypoints must be 51 numbers")
    done = cli(*train_args(ann, tmp_path / "run", "--val-images", VAL_IMG, "--val-annotations", tmp_path / "bad.json"))
    assert_one_line_error(done, "keypoints must be 51 numbers")
    assert not (tmp_path / "run").exists()
