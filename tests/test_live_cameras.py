"""Several cameras in one process on one model: two real MJPEG cameras on 127.0.0.1 through
`webcam --camera door=... --camera desk=... --json live-{camera}.jsonl --serve 0.0.0.0:PORT`, the
served page loaded in headless Chromium with poses arriving (token accepted, refused without);
the crops of both cameras in one batch per tick (Python API); `{camera}` required; the window's
tiles keep portrait frames whole."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from helpers import CLIPS, lines_written, require_shared
from live_servers import MjpegCamera, clip_jpegs

from transpose_live.cli import main
from transpose_live.pipeline.live_display import fit, tile


@pytest.fixture(scope="module")
def common(filled_checkpoint):
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector", "none", "--smooth", "none", "--threads", "1"]


def chromium_dom(url: str, profile) -> str:
    """The page's DOM after its live parts have run (the MJPEG views keep it loading: --timeout stops it)."""
    proc = subprocess.run(
        [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--timeout=6000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    return proc.stdout


def card(dom: str, i: int) -> dict:
    found = re.search(rf'<div class="cam" id="cam-{i}">(.*?)</div></div>', dom, re.S)
    assert found, dom[-3000:]
    return dict(re.findall(r'<b class="(\w+)">([^<]*)</b>', found.group(1)))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (.ci/run installs it)")
def test_two_cameras_one_model_served_to_chromium(common, tmp_path):
    door = MjpegCamera(clip_jpegs(require_shared(CLIPS / "squat.mp4"), count=30), fps=15).start()
    desk = MjpegCamera(clip_jpegs(require_shared(CLIPS / "dance.mp4"), count=30, width=180), fps=15).start()  # portrait
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "webcam", "--camera", f"door={door.url}",
                             "--camera", f"desk={desk.url}", "--json", "live-{camera}.jsonl", "--serve", "0.0.0.0:0",
                             *common], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (lines_written(tmp_path / "live-door.jsonl") >= 3
                                               and lines_written(tmp_path / "live-desk.jsonl") >= 3):
            assert proc.poll() is None, "".join(err)
            time.sleep(0.1)
        url = re.search(r"serving the live view at (http://\S+)", "".join(err)).group(1)
        port = int(re.search(r":(\d+)/", url).group(1))
        token = url.split("token=")[1]
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/poses", timeout=10)
        assert refused.value.code == 401
        dom = chromium_dom(f"{base}/?token={token}", tmp_path / "profile")
        with urllib.request.urlopen(f"{base}/poses?token={token}", timeout=10) as response:
            served = json.load(response)["cameras"]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        door.stop()
        desk.stop()
    time.sleep(0.2)
    stderr = "".join(err)
    assert proc.returncode == 130, stderr
    shown = [card(dom, 0), card(dom, 1)]
    assert [s["name"] for s in shown] == ["door", "desk"]
    assert all(int(s["people"]) == 1 and int(s["frame"]) >= 0 and float(s["fps"]) >= 0 for s in shown), shown
    assert shown[0]["size"] == "320x182" and shown[1]["size"] == "180x320"  # the annotated MJPEG views played
    assert [c["camera_name"] for c in served] == ["door", "desk"] and all(len(c["latest"]["persons"]) == 1 for c in served)
    for i, name in enumerate(["door", "desk"]):
        lines = [json.loads(line) for line in (tmp_path / f"live-{name}.jsonl").read_text().splitlines()]
        assert len(lines) >= 3 and {(r["camera"], r["camera_name"]) for r in lines} == {(i, name)}
        assert re.search(rf"camera {i} \({name}\): {len(lines)} frames, [\d.]+ fps, latency p50 \d+ ms p95 \d+ ms", stderr)


def test_several_cameras_need_camera_in_the_paths(common, tmp_path, capsys):
    js = tmp_path / "live.jsonl"
    rc = main(["webcam", "--camera", "0", "--camera", "1", "--json", str(js), *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "{camera}" in err[0] and "live-{camera}.jsonl" in err[0], err
    rc = main(["webcam", "--camera", "a=0", "--camera", "a=1", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "name 'a'" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_crops_of_every_camera_go_through_the_model_as_one_batch(filled_checkpoint):
    """`bench --cameras` (Python API): a clip played as two live cameras through one estimator; the
    batches hold both cameras' crops, and each camera reports its own fps and latency."""
    from transpose_live.bench.live_bench import bench_cameras
    from transpose_live.config import RunConfig
    from transpose_live.engine import PoseEstimator
    from transpose_live.pipeline import build_detector

    class CountingEstimator(PoseEstimator):
        batches: list = []

        def estimate_batch(self, frames, boxes, scores=None, return_attention=False):
            self.batches.append(len(frames))
            return super().estimate_batch(frames, boxes, scores, return_attention)

    estimator = CountingEstimator(model="tp_r_a3", weights=str(filled_checkpoint("tp_r_a3")), device="cpu",
                                  flip_test=False)
    cfg = RunConfig.for_command("bench", model="tp_r_a3", device="cpu", detector="none", smooth="none")
    summary = bench_cameras(require_shared(CLIPS / "squat.mp4"), cfg, 2, max_frames=3, estimator=estimator,
                            detector=build_detector("none"))
    assert estimator.batches[0] == 1  # the warm-up
    assert max(estimator.batches[1:]) == 2 and sum(estimator.batches[1:]) == 6
    assert summary["cameras"] == 2 and [c["frames"] for c in summary["per_camera"]] == [3, 3]
    assert all(c["latency_p95_ms"] >= c["latency_p50_ms"] > 0 and c["fps"] > 0 for c in summary["per_camera"])


def test_tiles_keep_portrait_frames_whole():
    portrait = np.full((1920, 1080, 3), 200, np.uint8)
    landscape = np.full((720, 1280, 3), 100, np.uint8)
    one = tile([portrait], (1600, 900))
    assert one.shape[0] == 900 and one.shape[1] == round(1080 * 900 / 1920)  # scaled down whole, not cut
    both = tile([landscape, portrait], (1600, 900))
    assert both.shape == (900, 1600, 3)
    right = both[:, 800:]
    rows = np.where(right[:, 400, 0] == 200)[0]
    assert rows[0] == 0 and rows[-1] == 899  # the portrait tile spans the full height
    cols = np.where(right[450, :, 0] == 200)[0]
    assert len(cols) == round(1080 * 900 / 1920)
    assert fit(landscape, (800, 900)).shape == (900, 800, 3)

