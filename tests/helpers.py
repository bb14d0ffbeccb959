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


def one_line_error(capsys, code, rc, needle):
    """The CLI returned `code` and printed exactly one line, "error: ...", containing `needle`."""
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err and "\x1b" not in err
