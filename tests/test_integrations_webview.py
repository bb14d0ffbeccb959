"""The web view looked at: labels of three people close together (track "#id score", `--exercise`
count and angle) never cover each other, on a real photo's keypoints; the two latencies are named;
two cameras served to headless Chromium, screenshot and DOM checked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
from helpers import CLIPS, COCO_MINI, require_shared
from live_servers import MjpegCamera, clip_jpegs, free_port

from transpose_live.analytics.exercises import load_exercise
from transpose_live.analytics.live import LiveExercise
from transpose_live.pipeline.render import Hud, render_frame, track_labels
from transpose_live.pipeline.sources import Frame
from transpose_live.poses import Poses


def overlapping(rects) -> list:
    return [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:]
            if not (a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3])]


def three_close_people() -> tuple[np.ndarray, Poses]:
    """A coco-mini person with all 17 keypoints labelled, three times, 12 px apart (tracks 1, 2, 3)."""
    from transpose_live.coco.annotations import read_coco

    data = read_coco(require_shared(COCO_MINI / "annotations" / "person_keypoints_val2017.json"), warn=None).data
    ann = max((a for a in data["annotations"] if a["num_keypoints"] == 17), key=lambda a: a["area"])
    image = cv2.imread(str(COCO_MINI / "val2017" / next(i["file_name"] for i in data["images"] if i["id"] == ann["image_id"])))
    k = np.array(ann["keypoints"], np.float32).reshape(17, 3)
    k[:, 2] = 0.9
    box = np.array(ann["bbox"], np.float32)
    box[2:] += box[:2]
    shifts = np.array([0, 12, 24], np.float32)
    kpts = np.stack([k + [s, s / 2, 0] for s in shifts])
    boxes = np.stack([box + [s, s / 2, s, s / 2] for s in shifts])
    return image, Poses(kpts, boxes, np.array([0.88, 0.91, 0.79], np.float32), np.array([1, 2, 3]))


def test_labels_of_three_people_close_together_do_not_overlap():
    image, poses = three_close_people()
    exercise = LiveExercise(load_exercise("squat"))
    exercise.update(poses, 0.0)
    out = render_frame(image, poses, 0.3)
    exercise.draw(out, poses)
    assert len(exercise.labels) == 9  # 3 track labels, 3 "squat 0", 3 angles
    assert overlapping(exercise.labels) == []
    # where they would have gone unplaced: on top of each other (the test can fail)
    lw = max(1, round(min(image.shape[:2]) / 240))
    wanted = [(int(b[0]), int(b[1]) - 10 * lw, int(b[0]) + 40 * lw, int(b[1])) for b in poses.boxes]
    assert overlapping(wanted)
    assert [t for t, _ in track_labels(image.shape, poses)] == ["#1 0.88", "#2 0.91", "#3 0.79"]


def test_the_hud_names_its_latency():
    frame = Frame(0, np.zeros((4, 4, 3), np.uint8), 0.0, time.perf_counter())
    assert re.fullmatch(r"[\d.]+ FPS  capture>draw \d+ ms", Hud().lines(frame, Poses.empty())[0])


def test_each_camera_hud_counts_its_own_frame_rate():
    """Three cameras at 10 fps each, their frames interleaved on the output: every camera's HUD says about
    10 FPS (one HUD shared by all cameras said about 30, or ~1000 when their frames came together)."""
    import threading as th

    from transpose_live.keypoints import COCO17
    from transpose_live.pipeline.output import OutputStage
    from transpose_live.pipeline.runner import PipelineOptions, StageTimes
    from transpose_live.pipeline.sources import ImageSource
    from transpose_live.pipeline.stream import StreamInput, TickItem

    folder = require_shared(COCO_MINI / "val2017")
    inputs = [StreamInput(ImageSource(folder), name=f"cam{i}") for i in range(3)]
    for i, inp in enumerate(inputs):
        inp.index = i
    stage = OutputStage(inputs, [], StageTimes(), PipelineOptions(hud=True), COCO17, (None, None, th.Event()))
    image = np.zeros((120, 160, 3), np.uint8)
    for n in range(8):
        for inp in inputs:  # the three frames of one tick, back to back
            frame = Frame(n, image, n / 10, time.perf_counter())
            stage._emit_frame(inp, TickItem(inp, frame, Poses.empty(), Poses.empty()), need_image=True)
        time.sleep(0.1)
    rates = [hud.fps for hud in stage.huds]
    assert all(6 < fps < 11 for fps in rates), rates


def chromium(url: str, profile, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--hide-scrollbars", f"--user-data-dir={profile}", "--timeout=8000", *flags, url],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (.ci/run installs it)")
def test_two_cameras_served_to_chromium_screenshot(filled_checkpoint, tmp_path):
    common = ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
              "--detector", "none", "--smooth", "one-euro", "--threads", "1", "--exercise", "squat"]
    door = MjpegCamera(clip_jpegs(require_shared(CLIPS / "squat.mp4"), count=30), fps=10).start()
    desk = MjpegCamera(clip_jpegs(require_shared(CLIPS / "dance.mp4"), count=30), fps=10).start()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "webcam", "--camera", f"door={door.url}",
                             "--camera", f"desk={desk.url}", "--serve", f"127.0.0.1:{port}", "--no-show", *common],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:  # both cameras have a picture
            assert proc.poll() is None, "".join(err)
            try:
                if all(urllib.request.urlopen(f"{base}/frame/{i}.jpg", timeout=5).status == 200 for i in (0, 1)):
                    break
            except OSError:
                pass
            time.sleep(0.3)
        shot = tmp_path / "view.png"
        chromium(base + "/", tmp_path / "p1", "--window-size=1280,900", f"--screenshot={shot}")
        dom = chromium(base + "/", tmp_path / "p2", "--dump-dom").stdout
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        door.stop()
        desk.stop()
    picture = cv2.imread(str(shot))
    assert picture is not None and picture.shape[:2] == (900, 1280), "".join(err)
    # the page's dark background, and two camera pictures side by side (the 2-column grid)
    halves = [picture[60:700, :640], picture[60:700, 640:]]
    assert all(float(h.std()) > 20 for h in halves), [float(h.std()) for h in halves]
    assert dom.count('class="cam"') == 2 and "capture &gt; web" in dom
    for i in (0, 1):
        card = re.search(rf'<div class="cam" id="cam-{i}">(.*?)</div></div>', dom, re.S).group(1)
        assert re.search(r'<b class="latency">\d+</b>', card), card


def test_labels_keep_clear_of_the_hud():
    """A whole-frame box (`--detector none`) puts the labels at the top left, where the HUD is."""
    image, poses = three_close_people()
    h, w = image.shape[:2]
    one = Poses(poses.keypoints[:1], np.array([[0, 0, w, h]], np.float32), poses.box_scores[:1], np.array([1]))
    exercise = LiveExercise(load_exercise("squat"), hud=True)
    exercise.update(one, 0.0)
    out = render_frame(image, one, 0.3, hud=["12.0 FPS  capture>draw 30 ms", "1 person"])
    exercise.draw(out, one)
    assert len(exercise.labels) == 4 and overlapping(exercise.labels) == []  # the HUD's box is the first
