"""`train` / `label` / `eval` commands: a saved COCO checkpoint runs in `image`, teacher labels train,
and bad input gives one line, exit 2, nothing lost."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import CLIPS, COCO_MINI, DETECTOR_WEIGHTS, assert_one_line_error, cli, coco_subset, require_shared, single_person_images, \
    train_args, write_clip

VAL_ANN = COCO_MINI / "annotations" / "person_keypoints_val2017.json"
VAL_IMG = COCO_MINI / "val2017"


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_saved_coco_checkpoint_runs_in_image_command(tmp_path):
    """A 17-keypoint run checkpoint at the registry size loads with --weights RUN/best.pth in `image`."""
    require_shared(VAL_ANN)
    ids = single_person_images(VAL_ANN, count=1)
    ann = coco_subset(VAL_ANN, tmp_path / "one.json", ids)
    args = train_args(ann, tmp_path / "run", "--batch-size", "1")
    args[args.index("64x48")] = "256x192"
    done = cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    best = tmp_path / "run" / "best.pth"
    meta = torch.load(best, weights_only=True)["meta"]
    assert meta["input_size"] == [256, 192] and meta["model"] == "tp_r_a3"
    image = VAL_IMG / json.loads(ann.read_text())["images"][0]["file_name"]
    shown = cli("image", image, "--model", "tp_r_a3", "--weights", best, "--detector", "none", "--device", "cpu",
                "--json", "-")
    assert shown.returncode == 0, shown.stderr[-2000:]
    line = json.loads(shown.stdout.strip().splitlines()[-1])
    assert len(line["persons"]) == 1 and len(line["persons"][0]["keypoints"]) == 17


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_bad_input_one_line_exit_2_nothing_lost(tmp_path):
    require_shared(VAL_ANN)
    data = json.loads(VAL_ANN.read_text())
    nokp = tmp_path / "nokp.json"
    nokp.write_text(json.dumps(dict(data, annotations=[{k: v for k, v in a.items() if k != "keypoints"}
                                                        for a in data["annotations"]])))
    assert_one_line_error(cli(*train_args(nokp, tmp_path / "r1")), "no annotations with keypoints")
    assert not (tmp_path / "r1").exists()

    ann = coco_subset(VAL_ANN, tmp_path / "two.json", single_person_images(VAL_ANN, count=2))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(cli(*train_args(ann, tmp_path / "r2", images=empty)), "missing")

    blocker = tmp_path / "file.txt"
    blocker.write_text("keep")
    assert_one_line_error(cli(*train_args(ann, blocker / "run")), "is a file")
    assert blocker.read_text() == "keep"

    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert_one_line_error(cli(*train_args(ann, run)), "already exists")
    assert (run / "notes.txt").read_text() == "mine"

    ckpt = tmp_path / "hrnet.pth"  # a checkpoint of another architecture
    from transpose_live.training.model_setup import make_model

    torch.save(make_model("hrnet_w32").state_dict(), ckpt)
    args = train_args(ann, tmp_path / "r3")
    args[args.index("random")] = str(ckpt)
    assert_one_line_error(cli(*args), "does not fit")

    from transpose_live.training.keypoint_set import MPII16
    from transpose_live.training.run_dir import save_checkpoint

    mpii_ckpt = tmp_path / "mpii16.pth"  # what `train` writes for MPII data (meta + 16-channel head)
    save_checkpoint(mpii_ckpt, make_model("tp_r_a3", 16, (64, 64)).state_dict(),
                    {"model": "tp_r_a3", "input_size": [64, 64], "heatmap_size": [16, 16], **MPII16.to_meta()})
    ev = cli("eval", "--images", VAL_IMG, "--annotations", ann, "--gt-boxes", "--weights", mpii_ckpt,
             "--device", "cpu")
    assert_one_line_error(ev, "predicts 16 keypoints")
    assert_one_line_error(cli("train", "--resume", tmp_path / "nothing"), "no last.pth")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_label_clip_with_teacher_then_train(tmp_path):
    require_shared(DETECTOR_WEIGHTS)
    from pycocotools.coco import COCO

    clip = tmp_path / "clip.mp4"
    write_clip(clip, CLIPS / "exercise.avi", 6)
    out = tmp_path / "labels.json"
    done = cli("label", clip, "--teacher", DETECTOR_WEIGHTS, "--out", out, "--every", "2", "--min-score", "0.4",
               "--device", "cpu", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    coco = COCO(str(out))
    assert len(coco.imgs) == 3 and len(coco.anns) >= 3
    ann = next(iter(coco.anns.values()))
    assert len(ann["keypoints"]) == 51 and ann["num_keypoints"] >= 5 and set(ann["keypoints"][2::3]) <= {0, 2}
    frames = tmp_path / "labels_images"
    assert sorted(p.name for p in frames.iterdir()) == sorted(i["file_name"] for i in coco.imgs.values())
    before = out.read_bytes()
    again = cli("label", clip, "--teacher", DETECTOR_WEIGHTS, "--out", out, "--no-progress")
    assert_one_line_error(again, "already exists")
    assert out.read_bytes() == before
    assert_one_line_error(cli("label", clip, "--teacher", DETECTOR_WEIGHTS, "--out", out / "x.json"), "is a file")
    run = tmp_path / "run"
    trained = cli(*train_args(out, run, images=frames))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (run / "best.pth").is_file() and (run / "metrics.csv").is_file()


def test_label_teacher_that_is_not_an_ultralytics_pose_model_says_what_it_is(filled_checkpoint, tmp_path, capsys):
    """`--teacher tp_r_a3.pth` (issue #28: "is a detect model") names what the file is and what a teacher
    must be; so does an ultralytics detector without keypoints. Nothing is written."""
    from helpers import SHARED, one_line_error
    from transpose_live.cli import main

    image = sorted(VAL_IMG.iterdir())[0]
    out = tmp_path / "labels.json"
    must = "a teacher must be an ultralytics pose model"
    one_line_error(capsys, 2, main(["label", str(image), "--teacher", str(filled_checkpoint("tp_r_a3")), "--out", str(out),
                                    "--no-progress"]), "is a transpose-live tp_r_a3 checkpoint (a top-down model")
    detect = require_shared(SHARED / "weights" / "yolov8n_int8_openvino_model")
    assert main(["label", str(image), "--teacher", str(detect), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is an ultralytics detect model, without keypoints" in err and must in err and err.count("\n") == 1, err
    assert not out.exists() and not (tmp_path / "labels_images").exists()
