"""`transpose-live batch` end to end on CPU: three short clips + one corrupt file through the local
pool and through Ray (a local 2-CPU cluster on 127.0.0.1 started here), outputs byte-equal to
`video`'s; resume after SIGTERM of the driver; a worker killed mid-input is retried; the same
input with other options is kept apart. TransPose-R-A3 with the conformance weights, --detector
none (whole frame = one person) to keep it fast."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from helpers import CLIPS, COCO_MINI, require_shared, write_clip
from transpose_live.cli import main

FRAMES = 24  # long enough that a SIGTERM sent after the first frame lands mid-input
SOURCES = {"exercise.mp4": "exercise.avi", "sub/squat.mp4": "squat.mp4", "sub/deeper/walk.mp4": "selfie-lsc_walk.mp4"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """root/exercise.mp4, root/sub/squat.mp4, root/sub/deeper/walk.mp4 (FRAMES frames each), a COCO image
    root/stills/*.jpg and root/broken.mp4."""
    root = tmp_path_factory.mktemp("archive")
    for rel, src in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_clip(root / rel, require_shared(CLIPS / src), FRAMES)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 64)
    still = sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[0]
    (root / "stills").mkdir()
    shutil.copy(still, root / "stills" / still.name)
    return root


@pytest.fixture(scope="module")
def common(filled_checkpoint) -> list[str]:
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector", "none", "--no-progress"]


THREADS = ["--threads", "1"]  # the batch workers' torch threads = the reference run's (last-digit rounding)


@pytest.fixture(scope="module")
def expected(archive, common, tmp_path_factory) -> dict[str, bytes]:
    """What `video` writes for each clip with the same options (and the workers' 1 torch thread)."""
    out = tmp_path_factory.mktemp("video")
    got = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i, rel in enumerate(SOURCES):
            js = out / f"{i}.jsonl"
            assert main(["video", str(archive / rel), "--json", str(js), *common]) == 0
            got[rel] = js.read_bytes()
            assert got[rel].count(b"\n") == FRAMES
    finally:
        torch.set_num_threads(threads)
    return got


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray cluster for the module: 2 CPUs, no dashboard, reachable on 127.0.0.1 only."""
    ray = pytest.importorskip("ray")
    from transpose_live.batch.ray_executor import _loopback_only

    if ray.is_initialized():
        ray.shutdown()
    _loopback_only(ray)
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    address = ctx.address_info["gcs_address"]
    assert address.startswith("127.0.0.1:")
    yield address
    ray.shutdown()


def outputs(out_dir: Path) -> dict[str, Path]:
    """{input rel path: its JSONLs} under their final names in out_dir (any options hash)."""
    found = {}
    for p in out_dir.rglob("*.jsonl"):
        if p.name != "manifest.jsonl" and ".part." not in p.name:
            rel = p.relative_to(out_dir).as_posix()
            found.setdefault(rel.rsplit(".", 2)[0], []).append(p)
    return found


def latest(out_dir: Path) -> dict[tuple[str, str], dict]:
    state = {}
    for line in (out_dir / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        state[(rec["input"], rec["options"])] = rec
    return state


def part_files(out_dir: Path) -> list[Path]:
    return [p for p in out_dir.rglob("*") if ".part." in p.name]


def wait_for(predicate, timeout=240.0, what="condition"):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_batch_outputs_equal_video_and_bad_input_is_recorded(executor, archive, common, expected, tmp_path, capsys,
                                                             request):
    out = tmp_path / "out"
    extra = ["--ray", request.getfixturevalue("ray_address")] if executor == "ray" else []
    rc = main(["batch", str(archive), "--out-dir", str(out), "--workers", "2", *THREADS, *extra, *common])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "error: 1 of 5 inputs failed: broken.mp4" in err and "Traceback" not in err
    assert f"4 done, 0 skipped, 1 failed | {3 * FRAMES + 1} frames" in err and f"2 {executor} workers" in err

    found = outputs(out)
    (still,) = [rel for rel in found if rel.startswith("stills/")]
    assert sorted(found) == sorted([*SOURCES, still])  # the input tree, mirrored; nothing for the corrupt file
    for rel in SOURCES:
        assert len(found[rel]) == 1 and found[rel][0].read_bytes() == expected[rel], rel
    (record,) = [json.loads(line) for line in found[still][0].read_text().splitlines()]
    assert record["image"] == Path(still).name and len(record["persons"]) == 1  # --detector none: the whole image
    assert part_files(out) == []

    summary = json.loads((out / "summary.json").read_text())
    assert (summary["done"], summary["failed"], summary["skipped"], summary["frames"]) == (4, 1, 0, 3 * FRAMES + 1)
    assert summary["executor"] == executor and summary["workers"] == 2
    assert [f["input"] for f in summary["failures"]] == [str(archive / "broken.mp4")]
    assert "cannot open video file" in summary["failures"][0]["error"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("input,status,frames") and len(rows) == 6
    state = latest(out)
    assert {Path(i).name: r["status"] for (i, _), r in state.items()} == {
        "exercise.mp4": "done", "squat.mp4": "done", "walk.mp4": "done", "broken.mp4": "failed", Path(still).name: "done"}
    assert sorted(r["frames"] for r in state.values() if r["status"] == "done") == [1, FRAMES, FRAMES, FRAMES]

    if executor == "local":  # the same input with other options: kept apart, nothing overwritten
        before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for paths in found.values() for p in paths}
        rc = main(["batch", str(archive / "exercise.mp4"), "--out-dir", str(out), "--smooth", "none", *THREADS, *common])
        assert rc == 0, capsys.readouterr().err
        after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for paths in outputs(out).values() for p in paths}
        assert {p: after[p] for p in before} == before  # nothing overwritten
        (new,) = set(after) - set(before)
        assert new.name.startswith("exercise.mp4.") and new.parent == out
        assert new.read_bytes() != expected["exercise.mp4"] and len(new.read_text().splitlines()) == FRAMES
        assert len({h for _, h in latest(out)}) == 2


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_resume_after_sigterm_skips_finished_and_redoes_interrupted(archive, common, expected, tmp_path, capsys):
    listing = tmp_path / "inputs.txt"  # a list file, relative paths from its folder
    listing.write_text("".join(f"{os.path.relpath(archive / rel, tmp_path)}\n" for rel in SOURCES))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "transpose_live", "batch", str(listing), "--out-dir", str(out), "--workers", "1",
           *THREADS, *common]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    names = list(SOURCES)

    def second_input_running():
        if not (out / "manifest.jsonl").exists():
            return False
        status = {Path(i).name: r["status"] for (i, _), r in latest(out).items()}
        parts = [p for p in part_files(out) if "squat" in p.name]
        return status.get("exercise.mp4") == "done" and status.get("squat.mp4") == "running" and parts \
            and parts[0].read_text().count("\n") >= 1

    try:
        wait_for(second_input_running, what="the second input to be half done")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    found = outputs(out)
    assert list(found) == [names[0]]  # no half file under a final name
    first = found[names[0]][0]
    assert first.read_bytes() == expected[names[0]]
    mtime = first.stat().st_mtime_ns
    assert {Path(i).name: r["status"] for (i, _), r in latest(out).items()}["squat.mp4"] == "interrupted"

    rc = main(["batch", str(listing), "--out-dir", str(out), "--workers", "1", *THREADS, *common])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "2 done, 1 skipped, 0 failed" in err
    assert first.stat().st_mtime_ns == mtime  # finished input untouched
    found = outputs(out)
    assert sorted(found) == sorted(names) and part_files(out) == []
    for rel, paths in found.items():
        assert paths[0].read_bytes() == expected[rel], rel
    summary = json.loads((out / "summary.json").read_text())
    assert {Path(r["input"]).name: r["status"] for r in summary["items"]} == {
        "exercise.mp4": "skipped", "squat.mp4": "done", "walk.mp4": "done"}


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_worker_killed_mid_input_is_retried(executor, archive, common, expected, tmp_path, request):
    rel = "sub/squat.mp4"
    out = tmp_path / "out"
    extra = ["--ray", request.getfixturevalue("ray_address")] if executor == "ray" else []
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault(
        "rc", main(["batch", str(archive / rel), "--out-dir", str(out), "--workers", "1", *THREADS, *extra, *common])))
    runner.start()

    def running_worker():
        if not (out / "manifest.jsonl").exists() or not part_files(out):
            return None
        recs = list(latest(out).values())
        if recs[0]["status"] != "running" or part_files(out)[0].read_text().count("\n") < 1:
            return None
        return int(recs[0]["worker"].rsplit(":", 1)[1])

    try:
        pid = wait_for(running_worker, what="a worker half way through the input")
        assert not outputs(out)  # still mid-input
        os.kill(pid, signal.SIGKILL)
    finally:
        runner.join(timeout=300)
    assert result.get("rc") == 0
    found = outputs(out)
    assert list(found) == ["squat.mp4"] and found["squat.mp4"][0].read_bytes() == expected[rel]  # a file: at the top
    rec = next(iter(latest(out).values()))
    assert rec["status"] == "done" and rec["attempts"] == 2 and rec["worker"] != f"{rec['worker'].split(':')[0]}:{pid}"
    assert part_files(out) == []


def test_inputs_folders_globs_lists_and_the_output_folder(tmp_path):
    from transpose_live.batch import expand_inputs
    from transpose_live.errors import UserError

    root = tmp_path / "arch"
    for rel in ("a.mp4", "b/c.avi", "b/d.jpg", "b/notes.md", "b/.hidden.mp4", "out/a.mp4.0123abcd.mp4", "e/f.mkv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("# clips\narch/e/f.mkv\n\narch/missing.mp4\n")
    items = expand_inputs([root, str(root / "b" / "*.avi"), listing, root / "a.mp4"], exclude=root / "out")
    assert [i.path.relative_to(root).as_posix() for i in items] == ["a.mp4", "b/c.avi", "b/d.jpg", "e/f.mkv",
                                                                    "missing.mp4"]
    assert [i.rel.as_posix() for i in items] == ["a.mp4", "b/c.avi", "b/d.jpg", "e/f.mkv", "missing.mp4"]
    assert [i.kind for i in items] == ["video", "video", "image", "video", "video"]
    assert [i.rel.as_posix() for i in expand_inputs([root / "b" / "c.avi"])] == ["c.avi"]
    assert "out/a.mp4.0123abcd.mp4" in [i.rel.as_posix() for i in expand_inputs([root])]  # only under --out-dir
    for bad in ([tmp_path / "nope"], [str(tmp_path / "*.mov")]):
        with pytest.raises(UserError):
            expand_inputs(bad)


def test_ray_option_without_ray_says_how_to_install(archive, common, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    rc = main(["batch", str(archive), "--out-dir", str(tmp_path / "out"), "--ray", "auto", *common])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "pip install" in err and "[ray]" in err, err
    assert not (tmp_path / "out").exists()


def _another(value, hint):
    """A different valid-looking value of a RunConfig field's type."""
    import typing

    if hint in (bool, typing.Optional[bool]):
        return not value if value is not None else True
    if value is None:
        return 3 if hint == typing.Optional[int] else "other"
    if isinstance(value, float):
        return value / 2 + 0.01
    if isinstance(value, int):
        return value + 1
    return value + "-other"


def test_options_hash_counts_every_output_changing_option(filled_checkpoint, tmp_path):
    """Each RunConfig field marked as changing outputs (also one added later) changes the batch options
    hash; the others (window, progress bar, threads) do not; a changed weights file changes it too."""
    import dataclasses
    import typing

    from transpose_live.batch.jobs import options_hash
    from transpose_live.config import RunConfig

    weights = tmp_path / "w.pth"
    shutil.copy(filled_checkpoint("tp_r_a3"), weights)
    cfg = RunConfig.for_command("batch", model="tp_r_a3", weights=str(weights), device="cpu")
    hints = typing.get_type_hints(RunConfig)
    base = options_hash(cfg)
    changing = [f.name for f in dataclasses.fields(RunConfig) if f.metadata["changes_output"]]
    assert {"detector_imgsz", "backend", "detector_backend", "hud", "det_conf", "weights"} <= set(changing)
    for f in dataclasses.fields(RunConfig):
        other = options_hash(cfg.replace(**{f.name: _another(getattr(cfg, f.name), hints[f.name])}))
        assert (other != base) == f.metadata["changes_output"], f.name
    with weights.open("ab") as fh:
        fh.write(b"\0")
    assert options_hash(cfg) != base


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_rerun_with_another_detector_size_redoes_the_input(filled_checkpoint, tmp_path, capsys):
    """The same input and options is skipped; with another --detector-imgsz it is run again, into its own file."""
    from helpers import DETECTOR_WEIGHTS

    out, clip = tmp_path / "out", tmp_path / "people.mp4"
    write_clip(clip, require_shared(CLIPS / "exercise.avi"), 2)
    args = ["batch", str(clip), "--out-dir", str(out), "--backend", "torch", "--model", "tp_r_a3", "--weights",
            str(filled_checkpoint("tp_r_a3")), "--device", "cpu", "--detector-weights",
            str(require_shared(DETECTOR_WEIGHTS)), "--detector-backend", "torch", "--no-progress", "--workers", "1",
            *THREADS]
    for size, done in (("320", "1 done, 0 skipped"), ("320", "0 done, 1 skipped"), ("640", "1 done, 0 skipped")):
        rc = main([*args, "--detector-imgsz", size])
        err = capsys.readouterr().err
        assert rc == 0 and done in err, err
    (runs,) = outputs(out).values()
    small, large = sorted(runs, key=lambda p: json.loads((out / f"options-{p.name.split('.')[-2]}.json")
                                                        .read_text())["detector_imgsz"])
    assert small.read_text() != large.read_text() and len(large.read_text().splitlines()) == 2
