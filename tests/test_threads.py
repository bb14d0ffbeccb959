"""The CPU thread budget (transpose_live.runtime.threads): planned per part, applied, and kept in
force after ultralytics changes torch's thread count behind our back."""

from __future__ import annotations

import cv2
import pytest
import torch

from helpers import CLIPS, DETECTOR_WEIGHTS, filled_model, require_shared, write_clip
from transpose_live.errors import UserError
from transpose_live.runtime import threads as budget_mod


@pytest.fixture(autouse=True)
def restore_threads():
    before_torch, before_cv = torch.get_num_threads(), cv2.getNumThreads()
    saved = budget_mod._active
    yield
    budget_mod._active = saved
    torch.set_num_threads(before_torch)
    cv2.setNumThreads(before_cv)


def test_plan_and_apply_budget():
    b = budget_mod.plan_budget(3)
    assert (b.cores, b.torch, b.runtime, b.opencv) == (3, 3, 3, 1)
    assert budget_mod.plan_budget().cores == budget_mod.available_cores()
    with pytest.raises(UserError, match="--threads"):
        budget_mod.plan_budget(0)
    applied = budget_mod.apply_budget(3)
    assert torch.get_num_threads() == 3 and cv2.getNumThreads() == 1
    assert budget_mod.active_budget() == applied and budget_mod.runtime_threads() == 3


def test_reassert_and_keep_threads_put_the_budget_back():
    budget_mod.apply_budget(2)
    torch.set_num_threads(1)  # what ultralytics does
    assert budget_mod.reassert_budget() is True and torch.get_num_threads() == 2
    assert budget_mod.reassert_budget() is False
    with budget_mod.keep_threads():
        torch.set_num_threads(1)
        cv2.setNumThreads(4)
    assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 1


def test_keep_threads_without_a_budget_restores_previous_counts():
    budget_mod._active = None
    torch.set_num_threads(2)
    with budget_mod.keep_threads():
        torch.set_num_threads(1)
    assert torch.get_num_threads() == 2


def test_budget_survives_a_real_detector_inside_the_pipeline(tmp_path):
    """ultralytics' first predict drops torch to 1 thread; inside the pipeline the pose model must
    still run with the budget's threads, frame after frame."""
    require_shared(DETECTOR_WEIGHTS)
    from transpose_live.engine import PoseEstimator
    from transpose_live.pipeline import PersonDetector, open_video, run_pipeline

    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 3)
    budget_mod.apply_budget(2)
    detector = PersonDetector(DETECTOR_WEIGHTS, device="cpu")  # a fresh YOLO: its first predict happens in the run
    estimator = PoseEstimator.from_module(filled_model("tp_r_a3"), "tp_r_a3", device="cpu", flip_test=False)
    seen = []

    class Probe:  # records torch's thread count at each pose call, then estimates
        def estimate(self, frame, boxes, box_scores=None, return_attention=False):
            seen.append(torch.get_num_threads())
            return estimator.estimate(frame, boxes, box_scores=box_scores)

    result = run_pipeline(open_video(clip), Probe(), detector, progress=False)
    assert result.detector_runs == 3 and result.persons > 0
    assert seen == [2, 2, 2] and torch.get_num_threads() == 2


def test_raw_ultralytics_predict_does_change_threads():
    """The problem the budget exists for (if ultralytics stops doing this, keep_threads is harmless)."""
    require_shared(DETECTOR_WEIGHTS)
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics import YOLO

    torch.set_num_threads(2)
    import numpy as np

    YOLO(str(DETECTOR_WEIGHTS)).predict(np.zeros((64, 64, 3), np.uint8), verbose=False)
    after_raw = torch.get_num_threads()
    from transpose_live.pipeline import PersonDetector

    budget_mod.apply_budget(2)  # its own budget: an in-process run with --threads 1 may have left another
    PersonDetector(DETECTOR_WEIGHTS, device="cpu")(np.zeros((64, 64, 3), np.uint8))
    assert torch.get_num_threads() == 2
    if after_raw == 2:
        pytest.skip("this ultralytics version no longer changes torch's thread count")
    assert after_raw == 1


def test_threads_option_sets_the_budget_of_a_run(tmp_path, capsys, filled_checkpoint):
    from transpose_live.cli import main

    clip = tmp_path / "c.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 2)
    rc = main(["video", str(clip), "--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")),
               "--device", "cpu", "--detector", "none", "--backend", "torch", "--threads", "1", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert budget_mod.active_budget().torch == 1 and torch.get_num_threads() == 1
    assert main(["video", str(clip), "--threads", "0", "--detector", "none"]) == 2


def test_torch_keeps_one_thread_for_the_glue_only_when_no_model_runs_on_it(filled_checkpoint):
    """Pose model and detector both on OpenVINO: torch only crops and decodes, on one thread, and the
    runtimes keep the whole budget; with the pose model on torch, torch keeps every core."""
    require_shared(DETECTOR_WEIGHTS)
    pytest.importorskip("openvino")
    from transpose_live.chain import build_chain
    from transpose_live.config import RunConfig

    base = dict(model="tp_r_a3", weights=str(filled_checkpoint("tp_r_a3")), device="cpu",
                detector_weights=str(DETECTOR_WEIGHTS), threads=2)
    budget_mod.apply_budget(2)
    chain = build_chain(RunConfig.for_command("video").replace(backend="openvino", **base))
    assert (chain.estimator.backend, chain.detector.backend) == ("openvino", "openvino")
    active = budget_mod.active_budget()
    assert (active.torch, active.runtime, torch.get_num_threads()) == (1, 2, 1)
    assert chain.estimator._forward.threads == 2
    budget_mod.apply_budget(2)
    chain = build_chain(RunConfig.for_command("video").replace(backend="torch", **base))
    assert chain.estimator.backend == "torch"
    assert budget_mod.active_budget().torch == 2 and torch.get_num_threads() == 2


# --- the one YOLO loader (pipeline/yolo.py): detector, label teacher and bench peer ------------------

OPENVINO_POSE = DETECTOR_WEIGHTS.parent / "yolov8n-pose_int8_openvino_model"
ODD_BUDGET = budget_mod.ThreadBudget(cores=3, torch=3, runtime=1, opencv=1)  # what ultralytics never picks itself


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("weights", [DETECTOR_WEIGHTS, OPENVINO_POSE], ids=["torch", "openvino"])
def test_the_budget_holds_after_every_yolo_predict(weights):
    """Fails when the budget silently stops applying (e.g. an ultralytics upgrade renames what
    use_runtime_threads re-opens, or resets threads somewhere keep_threads does not cover): after a
    predict through each user of the loader, torch, OpenCV and the exported runtime hold the budget."""
    require_shared(weights)
    pytest.importorskip("openvino") if weights == OPENVINO_POSE else None
    from transpose_live.bench.pipeline_bench import PeerModel
    from transpose_live.labelling.teacher import PoseTeacher
    from transpose_live.pipeline import PersonDetector
    from transpose_live.pipeline.detector_backend import runtime_threads_of

    budget_mod.apply_budget(ODD_BUDGET)
    frame = cv2.imread(str(require_shared(CLIPS.parent / "coco-mini" / "val2017" / "000000000139.jpg")))
    backend = "openvino" if weights == OPENVINO_POSE else "torch"
    users = [PersonDetector(weights, device="cpu", backend=backend), PoseTeacher(weights), PeerModel(weights)]
    for user in users:
        yolo = getattr(user, "yolo")  # YoloModel, or the detector's own ExportedYolo for exported weights
        result = user(frame, 0.25) if isinstance(user, PoseTeacher) else user(frame)
        assert len(result) > 0
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 1), type(user).__name__
        assert runtime_threads_of(user.model) == (1 if yolo.exported else None), type(user).__name__


def test_label_teacher_takes_an_openvino_folder_like_detector_weights(tmp_path, capsys):
    require_shared(OPENVINO_POSE)
    pytest.importorskip("openvino")
    from transpose_live.cli import main

    images = tmp_path / "images"
    images.mkdir()
    for src in sorted((require_shared(CLIPS.parent / "coco-mini" / "val2017")).glob("*.jpg"))[:2]:
        (images / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "labels.json"
    rc = main(["label", str(images), "--teacher", str(OPENVINO_POSE) + "/", "--out", str(out), "--device", "cpu",
               "--min-keypoints", "1", "--min-score", "0.3", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    import json

    data = json.loads(out.read_text())
    assert data["annotations"] and all(len(a["keypoints"]) == 51 for a in data["annotations"])
