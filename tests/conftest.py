"""Session fixtures (checkpoints with the conformance weights, the reference YOLO). Plain helpers
live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import CLIPS, CONFORMANCE, DETECTOR_WEIGHTS, filled_model, require_shared
from media_helpers import cut_clip

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _kept_signal_stack():
    """After each test, pytest's main thread has our kept alternate signal stack again: tests load and
    release OpenVINO (NNCF, ultralytics, our runners) hundreds of times in this one process, and on AMX
    CPUs a Core released out of order leaves an unmapped stack behind (runtime/signal_stack.py); the
    product paths themselves are checked in fresh interpreters by tests/test_signal_stack.py."""
    yield
    from transpose_live.runtime.signal_stack import keep_signal_stack

    keep_signal_stack()


@pytest.fixture(scope="session", autouse=True)
def detector_cache(tmp_path_factory):
    """Detector exports (`--detector-backend`, auto on the CPU) go to a session folder, not ~/.cache."""
    import os

    path = tmp_path_factory.mktemp("detector-cache")
    saved = os.environ.get("TRANSPOSE_LIVE_CACHE")
    os.environ["TRANSPOSE_LIVE_CACHE"] = str(path)  # subprocess CLI runs inherit it
    yield path
    if saved is None:
        os.environ.pop("TRANSPOSE_LIVE_CACHE", None)
    else:
        os.environ["TRANSPOSE_LIVE_CACHE"] = saved


@pytest.fixture(scope="session")
def weights_mirror_server(tmp_path_factory):
    """The loopback weights mirror (tests/weights_mirror.py) for the session: fill.py checkpoints under
    the official file names, built on first request."""
    require_shared(CONFORMANCE / "fill.py")
    from weights_mirror import WeightsMirror

    with WeightsMirror(tmp_path_factory.mktemp("weights-mirror")) as mirror:
        yield mirror


@pytest.fixture
def weights_mirror(weights_mirror_server, tmp_path, monkeypatch):
    """`--weights official` through the loopback mirror: TRANSPOSE_LIVE_WEIGHTS_URL names it, and an
    empty TRANSPOSE_LIVE_HOME and local weights folder of this test hold the downloads (subprocess CLI
    runs inherit both)."""
    monkeypatch.setenv("TRANSPOSE_LIVE_WEIGHTS_URL", weights_mirror_server.url)
    monkeypatch.setenv("TRANSPOSE_LIVE_HOME", str(tmp_path / "tl-home"))
    monkeypatch.setenv("TRANSPOSE_LIVE_WEIGHTS_DIR", str(tmp_path / "tl-local-weights"))
    weights_mirror_server.requests.clear()
    return weights_mirror_server


@pytest.fixture(scope="session")
def filled_checkpoint(tmp_path_factory):
    """Factory: path of a checkpoint file (official layout) holding the fill.py weights of a model."""
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            path = tmp_path_factory.mktemp("ckpt") / f"{name}_fill.pth"
            torch.save(filled_model(name).state_dict(), path)
            made[name] = path
        return made[name]

    return make


@pytest.fixture(scope="session")
def yolo():
    """ultralytics' YOLO on the shared yolo11n-pose weights, called directly (the reference)."""
    require_shared(DETECTOR_WEIGHTS)
    from transpose_live.ultralytics_env import configure_ultralytics_offline

    configure_ultralytics_offline()
    from ultralytics import YOLO

    return YOLO(str(DETECTOR_WEIGHTS))


@pytest.fixture(scope="session")
def common(filled_checkpoint):
    """CLI options of the run commands: tp_r_a3 with fill.py weights, CPU, the shared YOLO11n-pose as
    person detector on torch at 640 px (the runtime and size the reference boxes are computed with; the
    exported detectors are tested in test_detector_export.py), no progress bar."""
    require_shared(DETECTOR_WEIGHTS)
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector-weights", str(DETECTOR_WEIGHTS), "--detector-imgsz", "640", "--detector-backend", "torch",
            "--no-progress"]


@pytest.fixture
def one_thread():
    """One torch thread for the test: the 2-core CI machine is not oversubscribed (training results stay
    deterministic either way)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def squat24(tmp_path_factory):
    """The first 24 frames of squat.mp4 (960x544, 30 fps) with their AAC sound, stream-copied."""
    path = tmp_path_factory.mktemp("media") / "squat24.mp4"
    cut_clip(require_shared(CLIPS / "squat.mp4"), path, 24)
    return path
