"""Hardening through the real CLI: an input is never overwritten, interrupts exit 130 / 143 with valid
outputs at any moment, and mistakes are one line (no traceback) with exit 2."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import (
    CLIPS,
    COCO_MINI,
    count_frames,
    lines_written,
    one_line_error,
    require_shared,
    write_clip,
)

from transpose_live.cli import main


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    require_shared(CLIPS / "exercise.avi")
    path = tmp_path_factory.mktemp("clip") / "exercise.mp4"
    write_clip(path, CLIPS / "exercise.avi", 60)
    return path


@pytest.fixture()
def photos(tmp_path):
    """A folder with two real COCO photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for src in sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    return folder


# --- inputs are never overwritten ------------------------------------------------------------

def test_video_out_onto_its_input_is_refused(clip, common, tmp_path, capsys):
    copy = tmp_path / "s.mp4"
    copy.write_bytes(clip.read_bytes())
    before = digest(copy)
    link = tmp_path / "link.mp4"
    link.symlink_to(copy)
    for out in (copy, link, tmp_path / "sub" / ".." / "s.mp4"):
        one_line_error(capsys, 2, main(["video", str(copy), "--out", str(out), *common]), "is the input")
    one_line_error(capsys, 2, main(["video", str(copy), "--json", str(link), *common]), "is the input")
    assert digest(copy) == before and sorted(p.name for p in tmp_path.iterdir()) == ["link.mp4", "s.mp4"]


def test_image_outputs_onto_inputs_are_refused(photos, common, capsys):
    before = {p.name: digest(p) for p in photos.iterdir()}
    first = sorted(photos.iterdir())[0]
    one_line_error(capsys, 2, main(["image", str(first), "--coco", str(first), *common]), "is the input")
    one_line_error(capsys, 2, main(["image", str(photos), "--out", str(photos), *common]), "input folder")
    one_line_error(capsys, 2, main(["image", str(first), "--out", str(photos), *common]), "would overwrite")
    same = photos / "a.json"
    one_line_error(capsys, 2, main(["image", str(photos), "--coco", str(same), "--json", str(same), *common]),
                   "same file")
    assert {p.name: digest(p) for p in photos.iterdir()} == before


def test_eval_and_explain_outputs_onto_inputs_are_refused(tmp_path, capsys):
    ann = require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json")
    images = COCO_MINI / "val2017"
    copy = tmp_path / "ann.json"
    copy.write_bytes(ann.read_bytes())
    before = digest(copy)
    base = ["eval", "--images", str(images), "--annotations", str(copy), "--gt-boxes", "--weights", "random"]
    one_line_error(capsys, 2, main([*base, "--out", str(copy)]), "is the input")
    one_line_error(capsys, 2, main([*base, "--metrics-out", str(copy)]), "is the input")
    assert digest(copy) == before
    photo = tmp_path / "p.jpg"
    photo.write_bytes(sorted(images.glob("*.jpg"))[0].read_bytes())
    one_line_error(capsys, 2, main(["explain", str(photo), "--box", "1,1,50,90", "--out", str(photo)]),
                   "is the input")


def test_existing_output_is_replaced_only_when_complete(clip, common, tmp_path, capsys):
    """An existing --json file stays untouched while the run is refused, and a finished run leaves
    no temporary file beside its outputs."""
    js = tmp_path / "o.jsonl"
    js.write_text("old\n")
    args = [a if not str(a).endswith(".pth") else str(tmp_path / "missing.pth") for a in common]
    assert main(["video", str(clip), "--json", str(js), *args]) == 2
    assert js.read_text() == "old\n"
    capsys.readouterr()
    assert main(["video", str(clip), "--json", str(js), "--max-frames", "2", *common]) == 0
    assert len(js.read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl"]


# --- interrupts: 130 / 143 at any moment, outputs closed -------------------------------------

def _start(args: list, tmp_path: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="2")
    return subprocess.Popen([sys.executable, "-m", "transpose_live", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def _assert_valid_outputs(out: Path, js: Path) -> None:
    """Both outputs exist under their final names, complete and consistent; no temporary file left."""
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(len(records)))
    assert count_frames(out)[0] == len(records)
    assert not [p for p in out.parent.iterdir() if ".partial" in p.name]


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_while_starting_up(sig, code, clip, common, tmp_path):
    """During imports / model loading: the right code, one line, nothing half-written."""
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    proc = _start(["video", clip, "--out", out, "--json", js, *common], tmp_path)
    time.sleep(1.5)  # python is up; the CLI is importing torch / loading the models
    proc.send_signal(sig)
    rc, err = _finish(proc)
    assert rc == code, err
    assert err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err
    assert not out.exists() or _assert_valid_outputs(out, js) is None


@pytest.mark.slow
def test_ctrl_c_mid_run_and_twice(clip, common, tmp_path):
    for presses in (1, 2):
        out, js = tmp_path / f"o{presses}.mp4", tmp_path / f"o{presses}.jsonl"
        proc = _start(["video", clip, "--out", out, "--json", js, *common], tmp_path)
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and lines_written(js) < 2:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        rc, err = _finish(proc)
        assert rc == 130, err
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: interrupted")
        _assert_valid_outputs(out, js)


@pytest.mark.slow
def test_ctrl_c_during_eval_and_bench(tmp_path):
    ann = require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json")
    for args in (["eval", "--images", COCO_MINI / "val2017", "--annotations", ann, "--gt-boxes", "--weights", "random",
                  "--device", "cpu", "--out", tmp_path / "r.json"],
                 ["bench", "--models", "tp_h_a6", "--device", "cpu", "--batch", "8", "--json", tmp_path / "b.json"]):
        proc = _start(args, tmp_path)
        time.sleep(4)
        proc.send_signal(signal.SIGINT)
        rc, err = _finish(proc)
        assert rc == 130, err
        assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# --- one line, not a traceback ---------------------------------------------------------------

def test_detector_weights_that_are_not_a_detector(clip, common, tmp_path, filled_checkpoint, capsys):
    args = [a for a in common]
    args[args.index("--detector-weights") + 1] = str(filled_checkpoint("tp_r_a3"))
    one_line_error(capsys, 2, main(["video", str(clip), *args]), "cannot use detector weights")


def test_bench_json_unwritable_before_the_benchmark(capsys):
    one_line_error(capsys, 2, main(["bench", "--models", "tp_r_a3", "--device", "cpu", "--json", "/proc/x.json"]),
                   "--json file")


@pytest.mark.parametrize("field,value,needle", [
    ("bbox", "oops", "bbox must be"),
    ("image_id", "139", "must be integers"),
    ("keypoints", [0] * 10, "keypoints must be 51 numbers"),
])
def test_eval_annotations_with_wrong_types(field, value, needle, tmp_path, capsys):
    ann = json.loads(require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json").read_text())
    ann["annotations"][0][field] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(ann))
    rc = main(["eval", "--images", str(COCO_MINI / "val2017"), "--annotations", str(bad), "--gt-boxes",
               "--weights", "random", "--device", "cpu"])
    one_line_error(capsys, 2, rc, needle)


def test_checkpoint_errors_say_what_the_file_is(tmp_path, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(bytes(range(256)) * 8)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "obj": object()}, pickled)
    for path, needle in ((junk, "not a PyTorch checkpoint"), (text, "not a PyTorch checkpoint"),
                         (pickled, "refused for safety")):
        one_line_error(capsys, 2, main(["weights", "verify", str(path), "--model", "tp_r_a3"]), needle)


# --- consistency --------------------------------------------------------------------------------

def test_tables_never_cut_numbers_in_a_pipe():
    env = dict(os.environ, COLUMNS="60")
    out = subprocess.run([sys.executable, "-m", "transpose_live", "models"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert "68,635,473" in out and "tp_r_256x192_enc3_d256_h1024_mh8.pth" in out and "…" not in out


def test_eval_announces_the_images_it_evaluates(capsys):
    ann = require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json")
    rc = main(["eval", "--images", str(COCO_MINI / "val2017"), "--annotations", str(ann), "--gt-boxes",
               "--weights", "random", "--device", "cpu", "--max-images", "3", "--model", "tp_r_a3", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "; 3 images," in out and "3 images, " in out.splitlines()[-1]


def test_package_exports_the_tracker():
    from transpose_live import PoseEstimator, Poses, PoseTracker

    assert PoseTracker(smooth="none").update(Poses.empty(), 0.0).keypoints.shape == (0, 17, 3)
    assert PoseEstimator.__name__ == "PoseEstimator"


# --- full and read-only disks, folder modes, a bare state_dict without --model -----------------------

RUN_CHEAP = ["--model", "tp_r_a3", "--weights", "random", "--device", "cpu", "--detector", "none", "--backend", "torch",
             "--no-progress", "--threads", "1"]


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str):
    """A real tmpfs mounted at `path` (root in a container that allows `mount`), or None where it cannot be."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_output_on_a_read_only_mount_is_one_line(tmp_path, capsys):
    # as root, chmod does not stop writes: a real read-only mount (EROFS) is the honest test
    require_shared(COCO_MINI)
    image = sorted((COCO_MINI / "val2017").glob("*.jpg"))[0]
    with mounted_tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        if ro is None:
            pytest.skip("cannot mount a read-only tmpfs here (mount needs root in a container that allows it)")
        one_line_error(capsys, 2, main(["image", str(image), *RUN_CHEAP, "--json", str(ro / "poses.jsonl")]),
                       "Read-only file system")


def _video_into(folder: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    """`video` writing a lossless mp4 and JSON lines into `folder`; `limit_bytes`: RLIMIT_FSIZE of the
    process (SIGXFSZ ignored, so a write past it fails with EFBIG as it would on a full disk)."""
    import resource

    def limit():
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    args = ["video", str(require_shared(CLIPS / "squat.mp4")), *RUN_CHEAP, "--max-frames", "4", "--crf", "0",
            "--out", str(folder / "out.mp4"), "--json", str(folder / "out.jsonl")]
    return subprocess.run([sys.executable, "-m", "transpose_live", *args], capture_output=True, text=True,
                          timeout=300, preexec_fn=limit, env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_disk_full_during_a_run_is_one_line_and_leaves_nothing(tmp_path):
    """A 100 KiB tmpfs fills up (ENOSPC); where mounting is not allowed, a 100 KB file-size limit stands in
    (EFBIG): both end in one line, exit 2, and no file left behind."""
    with mounted_tmpfs(tmp_path / "small", "size=100k") as small:
        folder = small or tmp_path / "limited"
        folder.mkdir(exist_ok=True)
        done = _video_into(folder, limit_bytes=None if small else 100_000)
        left = sorted(p.name for p in folder.iterdir())
    needle = "error: no space left on " if small else "error: file too large for "
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(needle) and str(folder) in lines[0], done.stderr[-2000:]
    assert left == []  # the temporary mp4 and JSONL were removed, nothing published


def test_exported_openvino_folder_follows_the_umask(tmp_path):
    pytest.importorskip("openvino")
    out = tmp_path / "a3_openvino_model"
    old = os.umask(0o022)
    try:
        assert main(["export", "tp_r_a3", "--weights", "random", "--format", "openvino", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bare_state_dict_without_model_is_recognised(tmp_path, capsys):
    from helpers import filled_model

    a3 = tmp_path / "my.pth"
    state = filled_model("tp_r_a3").state_dict()
    torch.save(state, a3)
    assert main(["weights", "verify", str(a3)]) == 0
    assert f"ok: {a3} fits tp_r_a3" in capsys.readouterr().out
    image = sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[0]
    args = [a for a in RUN_CHEAP if a not in ("--model", "tp_r_a3")]
    args[args.index("--weights") + 1] = str(a3)
    assert main(["image", str(image), *args, "--json", str(tmp_path / "p.jsonl")]) == 0
    capsys.readouterr()
    # a wrong --model names the right one; a state_dict that fits nothing asks for --model, in one line
    one_line_error(capsys, 2, main(["weights", "verify", str(a3), "--model", "tp_r_a4"]), "pass --model tp_r_a3")
    del state["final_layer.bias"]
    torch.save(state, a3)
    one_line_error(capsys, 2, main(["weights", "verify", str(a3)]), "fits no registry model")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_checkpoint_save_on_a_full_disk_is_one_line(tmp_path):
    """torch.save raises RuntimeError (not OSError) on a full disk: write_atomic still says what happened."""
    from transpose_live.errors import UserError
    from transpose_live.paths import write_atomic

    with mounted_tmpfs(tmp_path / "small", "size=64k") as small:
        if small is None:
            pytest.skip("cannot mount a tmpfs here (mount needs root in a container that allows it)")
        with pytest.raises(UserError, match="^no space left on .*temporary files were removed"):
            write_atomic(small / "last.pth", lambda tmp: torch.save({"w": torch.zeros(100_000)}, tmp), "run file")
        assert list(small.iterdir()) == []
