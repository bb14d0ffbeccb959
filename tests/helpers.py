"""Test helpers shared by the test modules: where ../shared lives, models with the conformance
weights, short clips and the reference detector. Fixtures live in conftest.py."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
CONFORMANCE = SHARED / "conformance"
COCO_MINI = SHARED / "data" / "coco-mini"
CLIPS = SHARED / "data" / "clips"
DETECTOR_WEIGHTS = SHARED / "weights" / "yolo11n-pose.pt"


def require_shared(path: Path = SHARED) -> Path:
    """Skip the calling test with a message when ../shared (or a file in it) is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent (CI has ../shared beside the checkout)")
    return path


@functools.lru_cache(maxsize=1)
def _fill_module():
    require_shared(CONFORMANCE / "fill.py")
    spec = importlib.util.spec_from_file_location("conformance_fill", CONFORMANCE / "fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fill_module():
    """The conformance `fill.py` module (deterministic weights), skipping when absent."""
    return _fill_module()


def filled_model(name: str) -> torch.nn.Module:
    """Model `name` (eval mode, CPU) with the deterministic conformance weights."""
    from transpose_live.models.factory import create_model

    model = create_model(name)
    sd = model.state_dict()
    fill_module().fill_state_dict(sd)
    model.load_state_dict(sd)
    return model.eval()



# --- video clips and the reference detector ------------------------------------------------

def write_clip(path, src, frames, fps=None):
    """The first `frames` frames of `src` re-encoded into `path` (mp4v); returns (w, h, fps)."""
    cap = cv2.VideoCapture(str(src))
    fps = fps or cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(frames):
        ok, img = cap.read()
        assert ok
        out.write(img)
    out.release()
    cap.release()
    return w, h, fps


def count_frames(path) -> tuple[int, int, int]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    while cap.read()[0]:
        n += 1
    cap.release()
    return n, *size



def yolo_boxes(yolo, image):
    r = yolo.predict(image, classes=[0], conf=0.25, verbose=False)[0]
    boxes = r.boxes.xyxy.numpy()
    return boxes[np.argsort(boxes[:, 0])] if len(boxes) else boxes.reshape(0, 4)


def sort_boxes(boxes):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return boxes[np.argsort(boxes[:, 0])]


def lines_written(final) -> int:
    """Lines written so far to an output still under its temporary name (`.NAME.<random>.partial.EXT`
    beside `final`; the final name appears only when the output is complete)."""
    final = Path(final)
    for p in final.parent.glob(f".{final.stem}.*.partial{final.suffix}"):
        return len(p.read_text().splitlines())
    return 0


def one_line_error(capsys, code, rc, needle):
    """The CLI returned `code` and printed exactly one line, "error: ...", containing `needle`."""
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err and "\x1b" not in err


# --- training data: small COCO subsets and a COCO-17 -> MPII-16 converter ------------------

def coco_subset(src, dst, image_ids) -> Path:
    """A COCO keypoint file holding only `image_ids` (their images and annotations)."""
    import json

    data = json.loads(Path(src).read_text())
    keep = set(image_ids)
    data = dict(data, images=[i for i in data["images"] if i["id"] in keep],
                annotations=[a for a in data["annotations"] if a["image_id"] in keep])
    Path(dst).write_text(json.dumps(data))
    return Path(dst)


def single_person_images(annotations, min_keypoints: int = 12, count: int = 4) -> list[int]:
    """Ids of the images holding exactly one (non-crowd) annotated person with many keypoints, largest first."""
    import json

    data = json.loads(Path(annotations).read_text())
    per_image: dict[int, list] = {}
    for a in data["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a)
    good = [(anns[0]["area"], i) for i, anns in per_image.items()
            if len(anns) == 1 and not anns[0]["iscrowd"] and anns[0]["num_keypoints"] >= min_keypoints]
    return [i for _, i in sorted(good, reverse=True)[:count]]


def coco_to_mpii(src, dst, min_keypoints: int = 8) -> Path:
    """COCO-17 people -> MPII-16 HRNet-style JSON (1-based joints, center, scale, joints_vis, headbox).

    Ankles..wrists map one to one; pelvis/thorax are hip/shoulder midpoints; the head centre is the mean
    of the visible face points, upper_neck halfway from thorax to it, head_top 0.6 of that step beyond it;
    the head box is a square of 0.6 x shoulder width (or bbox height / 6) around the head centre.
    center/scale are chosen so that the MPII loader's +15*scale shift and x1.25 padding give the COCO crop.
    """
    import json

    data = json.loads(Path(src).read_text())
    names = {i["id"]: i["file_name"] for i in data["images"]}
    direct = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
    out = []
    for a in data["annotations"]:
        if a["iscrowd"] or a["num_keypoints"] < min_keypoints:
            continue
        k = np.asarray(a["keypoints"], np.float64).reshape(17, 3)
        vis = k[:, 2] > 0
        joints = np.zeros((16, 2))
        jv = np.zeros(16)
        for m, c in direct.items():
            joints[m], jv[m] = k[c, :2], vis[c]
        if vis[11] and vis[12]:
            joints[6], jv[6] = (k[11, :2] + k[12, :2]) / 2, 1
        if not (vis[5] and vis[6]) or not vis[:5].any():
            continue
        thorax = (k[5, :2] + k[6, :2]) / 2
        head = k[:5][vis[:5], :2].mean(axis=0)
        joints[7], jv[7] = thorax, 1
        joints[8], jv[8] = thorax + 0.5 * (head - thorax), 1
        joints[9], jv[9] = head + 0.6 * (head - thorax), 1
        side = 0.6 * float(np.linalg.norm(k[5, :2] - k[6, :2])) or a["bbox"][3] / 6
        x, y, w, h = a["bbox"]
        s = max(h, w) / 200.0
        center = [x + w / 2 + 1, y + h / 2 - 15 * s + 1]
        out.append({
            "image": names[a["image_id"]], "center": center, "scale": s,
            "joints": (joints + 1).tolist(), "joints_vis": jv.astype(int).tolist(),
            "headbox": [head[0] - side / 2, head[1] - side / 2, head[0] + side / 2, head[1] + side / 2],
        })
    Path(dst).write_text(json.dumps(out))
    return Path(dst)


def cli(*args, timeout=600):
    """`transpose-live ARGS` in a subprocess on one torch thread (the CI machine has 2 shared cores)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "transpose_live", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


TORSO_KEEP = (0, 5, 6, 11, 12)  # nose, shoulders, hips (COCO indices)
TORSO_NAMES = ["Nose", "Left Shoulder", "Right Shoulder", "Left Hip", "Right Hip"]


def torso_annotations(src, dst, count=4) -> Path:
    """A custom 5-keypoint COCO file (category 7 'torso': names and skeleton, no flip pairs) made from
    `count` single-person images of the COCO file `src`."""
    import json

    data = json.loads(coco_subset(src, Path(dst).with_suffix(".src.json"), single_person_images(src, count=count)).read_text())
    for ann in data["annotations"]:
        k = ann["keypoints"]
        ann["keypoints"] = [v for i in TORSO_KEEP for v in k[3 * i:3 * i + 3]]
        ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
        ann["category_id"] = 7
    data["categories"] = [{"id": 7, "name": "torso", "keypoints": TORSO_NAMES,
                           "skeleton": [[2, 3], [2, 4], [3, 5], [4, 5]]}]
    Path(dst).write_text(json.dumps(data))
    return Path(dst)


def assert_one_line_error(done, needle, code=2):
    """A `cli(...)` run exited `code` with exactly one stderr line, "error: ...", containing `needle`."""
    assert done.returncode == code, (done.returncode, done.stderr[-1500:])
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], done.stderr[-1500:]
    assert "Traceback" not in done.stderr


def trained_checkpoint(path, name, keypoint_set, input_size=(64, 48), seed=0) -> Path:
    """A checkpoint laid out as `train` writes it (weights + meta: model, sizes, keypoint set) for registry
    model `name` with `len(keypoint_set)` heatmaps, random weights from `seed`."""
    from transpose_live.models import create_model, model_info
    from transpose_live.training.run_dir import save_checkpoint

    spec = model_info(name)
    stride = spec.input_size[0] // spec.heatmap_size[0]
    torch.manual_seed(seed)
    model = create_model(spec.resized(input_size), num_keypoints=len(keypoint_set))
    meta = {"model": name, "input_size": list(input_size), "heatmap_size": [input_size[0] // stride, input_size[1] // stride],
            **keypoint_set.to_meta()}
    save_checkpoint(Path(path), model.state_dict(), meta)
    return Path(path)


def train_args(ann, out, *extra, images=COCO_MINI / "val2017"):
    """`train` arguments for a quick tp_r_a3 run from random weights at 64x48 (extra options override)."""
    return ["train", "--model", "tp_r_a3", "--train-images", images, "--train-annotations", ann, "--init", "random",
            "--epochs", "1", "--batch-size", "2", "--input-size", "64x48", "--device", "cpu", "--workers", "0",
            "--threads", "1", "--no-progress", "--out", out, *extra]


def assert_keypoints_agree(got, expected, atol: float, moved_share: float = 0.05, score_tol: float = 1e-4):
    """Two float32 runs of one model whose kernels differ (batch size, runtime, the CPU's instruction set:
    AVX2, AVX-512, AMX) agree as a user sees it: keypoints (..., K, 3) within `atol` image px and scores
    within `score_tol`, except at most `moved_share` of the keypoints, which may move further: a heatmap
    whose two best cells are nearly equal lets the kernels' rounding pick either (the score stays). Never
    judged by the single worst keypoint (docs/architecture.md, Tests)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    move = np.linalg.norm(got[..., :2] - expected[..., :2], axis=-1).ravel()
    moved = float((move > atol).mean()) if move.size else 0.0
    assert moved <= moved_share, (f"{moved:.1%} of {move.size} keypoints moved > {atol} px", np.sort(move)[-5:])
    assert np.median(move) <= atol / 10, np.median(move)
    scores = np.abs(got[..., 2] - expected[..., 2])
    assert scores.max() <= score_tol, scores.max()
