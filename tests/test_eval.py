"""COCO keypoint evaluation: box sources, rescoring/OKS-NMS, scoring path vs pycocotools, `eval` CLI."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from transpose_live.errors import UserError
from transpose_live.evaluation import (
    METRIC_NAMES,
    detection_person_boxes,
    evaluate_dataset,
    evaluate_keypoints,
    gt_person_boxes,
    load_coco,
    oks_matrix,
    oks_nms,
    rescore,
)
from transpose_live.evaluation.image_loader import ImageJob, PrefetchLoader, group_jobs
from transpose_live.evaluation.rescore import crop_areas
from transpose_live.keypoints import OKS_SIGMAS
from transpose_live.poses import Poses

from helpers import COCO_MINI, require_shared

ANNOTATIONS = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
IMAGES = COCO_MINI / "val2017"


@pytest.fixture(scope="module")
def coco():
    require_shared(ANNOTATIONS)
    return load_coco(ANNOTATIONS)


def gt_results(coco) -> list[dict]:
    """The ground-truth keypoints of every annotated person as a results list (score 1)."""
    out = []
    for ann in coco.dataset["annotations"]:
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            continue
        kpts = np.asarray(ann["keypoints"], float).reshape(17, 3)
        kpts[:, 2] = (kpts[:, 2] > 0).astype(float)
        out.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kpts.ravel().tolist(), "score": 1.0})
    return out


def pycocotools_direct(annotations: Path, results_file: Path) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        dt = gt.loadRes(str(results_file))
        ev = COCOeval(gt, dt, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


# ---------------------------------------------------------------- scoring path
def test_gt_keypoints_score_ap_one(coco, tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt_results(coco)))
    metrics = evaluate_keypoints(coco, path)
    assert list(metrics) == list(METRIC_NAMES)
    assert metrics["AP"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["AR"] == pytest.approx(1.0, abs=1e-12)


def test_perturbed_keypoints_match_pycocotools_exactly(coco, tmp_path):
    rng = np.random.default_rng(0)
    results = gt_results(coco)
    for r in results:
        k = np.asarray(r["keypoints"]).reshape(17, 3)
        k[:, :2] += rng.normal(0, 6.0, (17, 2))
        k[:, 2] = rng.uniform(0.1, 1.0, 17)
        r["keypoints"] = k.ravel().tolist()
        r["score"] = float(rng.uniform(0.2, 1.0))
    # a few spurious detections too
    for r in results[:10]:
        fake = dict(r, keypoints=(np.asarray(r["keypoints"]) + 40).tolist(), score=0.1)
        results.append(fake)
    path = tmp_path / "perturbed.json"
    path.write_text(json.dumps(results))
    ours = evaluate_keypoints(coco, path)
    direct = pycocotools_direct(ANNOTATIONS, path)
    assert 0.1 < ours["AP"] < 0.99
    np.testing.assert_allclose([ours[n] for n in METRIC_NAMES], direct, rtol=0, atol=1e-9)


class GroundTruthEstimator:
    """Stands in for PoseEstimator: returns the annotated keypoints of the person whose box it gets."""

    def __init__(self, coco):
        self.by_box = {}
        boxes = gt_person_boxes(coco)
        for image_id, (b, _) in boxes.items():
            anns = [a for a in coco.imgToAnns[image_id] if not a["iscrowd"] and a["area"] > 0 and a["num_keypoints"]]
            assert len(anns) == len(b)  # the GT-box protocol: only people with labelled keypoints
            for box, ann in zip(b, anns):
                k = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
                k[:, 2] = (k[:, 2] > 0) * 0.9
                self.by_box[self.key(box)] = k
        assert len(self.by_box) == sum(len(b) for b, _ in boxes.values())  # keys are unique
        self.calls = []

    @staticmethod
    def key(box):
        return tuple(np.round(np.asarray(box, np.float64), 2))

    def estimate_batch(self, frames, boxes, scores):
        self.calls.append(len(frames))
        out = []
        for frame, b, s in zip(frames, boxes, scores):
            assert frame.ndim == 3 and frame.dtype == np.uint8
            kpts = np.stack([self.by_box[self.key(box)] for box in b])
            out.append(Poses(keypoints=kpts, boxes=b, box_scores=s))
        return out


def test_gt_poses_through_evaluate_dataset_score_ap_one(coco):
    boxes = gt_person_boxes(coco)
    est = GroundTruthEstimator(coco)
    outcome = evaluate_dataset(est, coco, IMAGES, boxes, people_per_batch=8, progress=False)
    assert len(outcome.image_ids) == len(coco.imgs)
    assert outcome.people == sum(len(b) for b, _ in boxes.values())
    assert max(est.calls) > 1  # images batched together
    assert outcome.metrics["AP"] == pytest.approx(1.0, abs=1e-12)
    assert outcome.metrics["AR"] == pytest.approx(1.0, abs=1e-12)
    assert all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in outcome.results)


def test_empty_results_score_zero(coco):
    assert evaluate_keypoints(coco, []) == {n: 0.0 for n in METRIC_NAMES}


def test_results_for_unknown_image_is_user_error(coco):
    bad = [{"image_id": 1, "category_id": 1, "keypoints": [0.0] * 51, "score": 1.0}]
    with pytest.raises(UserError, match="do not match"):
        evaluate_keypoints(coco, bad)


# ---------------------------------------------------------------- rescoring and OKS-NMS
def test_rescore_mean_of_confident_keypoints_times_box_score():
    k = np.zeros((3, 17, 3), np.float32)
    k[0, :, 2] = 0.1  # nothing above 0.2
    k[1, :4, 2] = [0.3, 0.5, 0.2, 0.9]  # 0.2 itself does not count
    k[2, :, 2] = 0.8
    scores = rescore(k, np.array([0.9, 0.5, 1.0]))
    np.testing.assert_allclose(scores, [0.0, 0.5 * (0.3 + 0.5 + 0.9) / 3, 0.8], rtol=1e-6)


def random_pose(rng, cx, cy, size):
    k = np.zeros((17, 3))
    k[:, 0] = cx + rng.uniform(-size / 2, size / 2, 17)
    k[:, 1] = cy + rng.uniform(-size, size, 17)
    k[:, 2] = 1.0
    return k


def test_oks_matrix_matches_pycocotools_compute_oks():
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(1)
    a = random_pose(rng, 100, 100, 40)
    b = a.copy()
    b[:, :2] += rng.normal(0, 5, (17, 2))
    area = 5000.0
    ours = oks_matrix(np.stack([a, b]), np.array([area, area]))
    # pycocotools on one GT (a, all visible) and one detection (b)
    ev = COCOeval(iouType="keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(OKS_SIGMAS)
    ev._gts = {(1, 1): [{"keypoints": a.ravel().tolist(), "area": area, "bbox": [0, 0, 10, 10]}]}
    ev._dts = {(1, 1): [{"keypoints": b.ravel().tolist(), "score": 1.0}]}
    ev.params.catIds = [1]
    ref = ev.computeOks(1, 1)
    assert ours[0, 1] == pytest.approx(float(ref[0, 0]), rel=1e-9)
    assert ours[0, 0] == pytest.approx(1.0) and ours[0, 1] == pytest.approx(ours[1, 0])


def test_oks_nms_drops_duplicates_keeps_distinct_people():
    rng = np.random.default_rng(2)
    p1 = random_pose(rng, 100, 100, 60)
    p2 = random_pose(rng, 400, 120, 60)
    dup = p1.copy()
    dup[:, :2] += 0.5  # near-identical to p1
    far = p1.copy()
    far[:, :2] += 30  # same place-ish, clearly different
    kpts = np.stack([p1, p2, dup, far])
    scores = np.array([0.8, 0.7, 0.9, 0.5])
    areas = np.full(4, 60.0 * 120 * 1.25**2)
    keep = oks_nms(kpts, scores, areas, thr=0.9)
    assert keep.tolist() == [2, 1, 3]  # dup outranks p1 and suppresses it
    assert oks_nms(kpts[:0], scores[:0], areas[:0]).shape == (0,)
    assert oks_nms(kpts, scores, areas, thr=1.0).tolist() == [2, 0, 1, 3]


def test_oks_nms_matches_reference_greedy_loop():
    """Vectorised NMS == the textbook loop (pairwise OKS against the remaining order)."""
    rng = np.random.default_rng(3)
    base = [random_pose(rng, rng.uniform(50, 500), rng.uniform(50, 300), 50) for _ in range(6)]
    kpts = np.stack([b + rng.normal(0, rng.choice([0.5, 3, 20]), b.shape) * [1, 1, 0] for b in base for _ in range(5)])
    scores = rng.uniform(0, 1, len(kpts))
    areas = rng.uniform(3000, 9000, len(kpts))
    var = (2 * np.asarray(OKS_SIGMAS)) ** 2
    order, keep = np.argsort(-scores), []
    while len(order):
        i = order[0]
        keep.append(i)
        d2 = ((kpts[order[1:], :, :2] - kpts[i, :, :2]) ** 2).sum(-1)
        oks = np.exp(-d2 / var / ((areas[i] + areas[order[1:]])[:, None] / 2 + np.spacing(1)) / 2).mean(-1)
        order = order[1:][oks <= 0.9]
    assert oks_nms(kpts, scores, areas, 0.9).tolist() == keep
    assert 6 <= len(keep) < len(kpts)


def test_crop_areas_follow_aspect_and_padding():
    areas = crop_areas(np.array([[0, 0, 30, 40], [0, 0, 300, 40]]))
    np.testing.assert_allclose(areas, [30 * 40 * 1.5625, 300 * 400 * 1.5625])


# ---------------------------------------------------------------- box sources and loader
def test_gt_boxes_follow_the_spec_protocol(coco):
    """Spec 2.7: non-crowd people with area > 0 and a labelled keypoint (68 of coco-mini val's 117), each box
    clipped as x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)) (y alike)."""
    from transpose_live.evaluation.boxes_source import unlabelled_people

    boxes = gt_person_boxes(coco)
    assert set(boxes) == set(coco.imgs)
    n = sum(len(b) for b, _ in boxes.values())
    people = [a for a in coco.dataset["annotations"] if not a["iscrowd"] and a["area"] > 0]
    labelled = [a for a in people if max(a["keypoints"]) > 0]
    assert n == len(labelled) == 68 and len(people) == 117
    assert unlabelled_people(coco) == 117 - 68
    for ann in labelled:
        info = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        x1, y1 = max(0, x), max(0, y)
        x2, y2 = min(info["width"] - 1, x1 + max(0, w - 1)), min(info["height"] - 1, y1 + max(0, h - 1))
        got = boxes[ann["image_id"]][0]
        assert np.isclose(got, [x1, y1, x2, y2], atol=1e-3).all(axis=1).any(), ann["id"]
    assert all((s == 1).all() for _, s in boxes.values())


def test_detection_file_filters_persons_and_threshold(coco, tmp_path):
    image_ids = sorted(coco.imgs)[:3]
    dets = [
        {"image_id": image_ids[0], "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9},
        {"image_id": image_ids[0], "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.95},
        {"image_id": image_ids[0], "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.05},  # below det_thr
        {"image_id": image_ids[1], "category_id": 3, "bbox": [10, 20, 30, 40], "score": 0.9},  # a car
        {"image_id": 999999999, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9},  # not in the set
    ]
    path = tmp_path / "det.json"
    path.write_text(json.dumps(dets))
    boxes = detection_person_boxes(path, det_thr=0.1, image_ids=image_ids)
    assert sorted(boxes) == image_ids
    b, s = boxes[image_ids[0]]
    np.testing.assert_allclose(b, [[0, 0, 5, 5], [10, 20, 40, 60]])
    np.testing.assert_allclose(s, [0.95, 0.9])
    assert len(boxes[image_ids[1]][0]) == 0 and len(boxes[image_ids[2]][0]) == 0


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "JSON list"),
    ('[{"image_id": 1, "category_id": 1, "score": 0.5}]', "lacks bbox"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [1, 2], "score": 0.5}]', r"bbox \[x, y, w, h\]"),
])
def test_malformed_detection_file_is_user_error(tmp_path, content, match):
    path = tmp_path / "det.json"
    path.write_text(content)
    with pytest.raises(UserError, match=match):
        detection_person_boxes(path)


@pytest.mark.parametrize("content, match", [
    ("[1, 2", "not valid JSON"),
    ("[]", "not a COCO file"),
    ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}', "no person category"),
])
def test_malformed_annotation_file_is_user_error(tmp_path, content, match):
    path = tmp_path / "ann.json"
    path.write_text(content)
    with pytest.raises(UserError, match=match):
        load_coco(path)


def test_group_jobs_and_prefetch_loader(coco):
    boxes = gt_person_boxes(coco)
    ids = [i for i in sorted(coco.imgs) if len(boxes[i][0])][:6]
    jobs = [ImageJob(i, IMAGES / coco.imgs[i]["file_name"], *boxes[i]) for i in ids]
    groups = group_jobs(jobs, 4)
    assert [j for g in groups for j in g] == jobs
    assert all(sum(len(j.boxes) for j in g) <= 4 or len(g) == 1 for g in groups)
    batches = list(PrefetchLoader(jobs, people_per_batch=4, workers=2))
    assert [j.image_id for b in batches for j in b.jobs] == ids
    for b in batches:
        for job, frame in zip(b.jobs, b.frames):
            info = coco.imgs[job.image_id]
            assert frame.shape == (info["height"], info["width"], 3)
    missing = [ImageJob(1, IMAGES / "nope.jpg", boxes[ids[0]][0], boxes[ids[0]][1])]
    with pytest.raises(UserError, match="cannot read image"):
        list(PrefetchLoader(missing))


# ---------------------------------------------------------------- the `eval` command
def cli(argv):
    from transpose_live.cli import main

    return main([str(a) for a in argv])


def eval_args(tmp_path, *extra):
    return ["eval", "--images", IMAGES, "--annotations", ANNOTATIONS, "--model", "tp_r_a3",
            "--weights", "random", "--device", "cpu", "--no-flip-test", "--max-images", 6,
            "--no-progress", *extra]


def check_results_file(path: Path, coco):
    results = json.loads(path.read_text())
    assert isinstance(results, list) and results
    for r in results:
        assert set(r) == {"image_id", "category_id", "keypoints", "score"}
        assert r["image_id"] in coco.imgs and r["category_id"] == 1 and len(r["keypoints"]) == 51
        assert np.isfinite(r["keypoints"]).all() and 0 <= r["score"] <= 1
    evaluate_keypoints(coco, path)  # pycocotools accepts it
    return results


@pytest.mark.slow
def test_eval_cli_gt_boxes_random_model(coco, tmp_path, capsys):
    out, metrics = tmp_path / "results.json", tmp_path / "metrics.json"
    assert cli(eval_args(tmp_path, "--gt-boxes", "--out", out, "--metrics-out", metrics)) == 0
    results = check_results_file(out, coco)
    first6 = sorted(coco.imgs)[:6]
    n_boxes = sum(len(gt_person_boxes(coco)[i][0]) for i in first6)
    assert {r["image_id"] for r in results} <= set(first6) and len(results) <= n_boxes
    payload = json.loads(metrics.read_text())
    assert list(payload["metrics"]) == list(METRIC_NAMES) and payload["images"] == 6
    assert 0 <= payload["metrics"]["AP"] < 0.2  # untrained model
    from transpose_live.evaluation.boxes_source import unlabelled_people

    skipped = unlabelled_people(coco, first6)
    assert skipped > 0 and payload["people_skipped"] == skipped and payload["people"] == n_boxes
    out = capsys.readouterr().out
    assert "AP50" in out and f"{skipped} people without labelled keypoints skipped" in out


@pytest.mark.slow
def test_eval_cli_detection_file(coco, tmp_path):
    first6 = sorted(coco.imgs)[:6]
    dets = [
        {"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.5 + 0.1 * (k % 5)}
        for k, a in enumerate(coco.dataset["annotations"]) if a["image_id"] in first6 and not a["iscrowd"]
    ]
    dets.append(dict(dets[0], score=0.01))  # dropped by --det-thr
    det_path = tmp_path / "dets.json"
    det_path.write_text(json.dumps(dets))
    out = tmp_path / "results.json"
    assert cli(eval_args(tmp_path, "--boxes", det_path, "--det-thr", 0.3, "--batch", 4, "--out", out)) == 0
    results = check_results_file(out, coco)
    assert len(results) <= len(dets) - 1


def test_eval_cli_errors_are_one_line(tmp_path, capsys):
    require_shared(ANNOTATIONS)
    bad_ann = tmp_path / "ann.json"
    bad_ann.write_text("{broken")
    args = ["eval", "--images", IMAGES, "--annotations", bad_ann, "--gt-boxes", "--device", "cpu"]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: annotation file") and "\n" not in err

    bad_det = tmp_path / "det.json"
    bad_det.write_text('[{"image_id": 1}]')
    args = ["eval", "--images", IMAGES, "--annotations", ANNOTATIONS, "--boxes", bad_det, "--device", "cpu"]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: detection file") and "\n" not in err

    assert cli(["eval", "--images", IMAGES, "--annotations", ANNOTATIONS, "--device", "cpu"]) == 2
    assert "--gt-boxes" in capsys.readouterr().err
    assert cli(["eval", "--images", tmp_path / "none", "--annotations", ANNOTATIONS, "--gt-boxes"]) == 2
    assert "image folder not found" in capsys.readouterr().err
