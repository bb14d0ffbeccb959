"""The live 3D view on `--serve` and calibrations at another image size (issue #31 item 4).

Fast: a standing person of known 3D points projected through the shared Qualisys cameras, then halved
(what frames served at half size show): the calibration is scaled to the half-size frames (and refuses
another aspect ratio); `triangulate --image-size` recovers the 3D from half-size 2D; the live pairing
(`triangulation.live.LiveViews`) publishes its 3D frames to the web view, which a real `websockets`
client receives typed (`scene3d`, `pose3d`) beside the 2D records.
Slow: `webcam --calibration --serve` on 3 loopback MJPEG cameras of ../shared/data/multiview at half size
with YOLO11n-pose keypoints, a `websockets` client checking leg lengths, and headless Chromium's
screenshot of the page's 3D canvas."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from analytics_clips import POSE_WEIGHTS
from helpers import SHARED, cli, require_shared
from live_servers import MjpegCamera, clip_jpegs, free_port
from ws_clients import follow

from transpose_live.calib.camera import fit_to_size
from transpose_live.calib.formats import read_calibration
from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17
from transpose_live.pose_files import pose_record
from transpose_live.poses import Poses
from transpose_live.triangulation.metrics import first_person_points, leg_lengths

MULTIVIEW = SHARED / "data" / "multiview"
QCA = MULTIVIEW / "calibration" / "Calib.qca.txt"
HALF = (540, 960)  # the recording's 1080x1920 frames at half size (calibrated at 1088x1920)
STANDING = np.array([[0, .1, 1.65], [.03, .08, 1.68], [-.03, .08, 1.68], [.07, .02, 1.66], [-.07, .02, 1.66],
                     [.18, 0, 1.45], [-.18, 0, 1.45], [.22, 0, 1.18], [-.22, 0, 1.18], [.24, .05, .93],
                     [-.24, .05, .93], [.1, 0, .95], [-.1, 0, .95], [.1, .02, .52], [-.1, .02, .52], [.1, 0, .1],
                     [-.1, 0, .1]]) + [-0.3, 0.2, 0]  # COCO-17, metres, z up, inside every camera's view


@pytest.fixture(scope="module")
def calib():
    return read_calibration(require_shared(QCA))


def half_size_view(camera, points: np.ndarray) -> Poses:
    """The person as a camera filming at half size sees it: full-size projections halved."""
    uv = camera.project(points) / 2
    kpts = np.concatenate([uv, np.full((len(points), 1), 0.9)], axis=1)[None].astype(np.float32)
    box = np.array([[*uv.min(axis=0), *uv.max(axis=0)]], np.float32)
    return Poses(kpts, box, np.array([0.9], np.float32), np.array([1]))


def test_calibration_scaled_to_half_size_frames_and_another_aspect_refused(calib):
    cam = calib.camera("cam01")
    fitted, note = fit_to_size(cam, HALF)
    assert note == "camera cam01: frames of 540x960, calibrated at 1088x1920: intrinsics scaled by 0.5"
    assert np.allclose(fitted.matrix[:2], cam.matrix[:2] / 2) and fitted.size == HALF
    assert np.allclose(fitted.project(STANDING), cam.project(STANDING) / 2, atol=1e-6)
    assert fit_to_size(cam, (1080, 1920)) == (cam, None)  # the video's 8 px narrower frames: as calibrated
    with pytest.raises(UserError, match="aspect ratio"):
        fit_to_size(cam, (960, 960))


def points_of(path) -> np.ndarray:
    """(frames, keypoints, 3) of the first person of each line of a 3D JSONL."""
    return np.array([[k[:3] for k in json.loads(line)["persons"][0]["keypoints"]]
                     for line in path.read_text().splitlines()], float)


@pytest.mark.slow  # > 2 s: three CLI runs (docs/architecture.md)
def test_triangulate_half_size_2d_with_the_full_size_calibration(calib, tmp_path):
    files = []
    for cam in calib.cameras:
        path = tmp_path / f"{cam.name}.jsonl"
        lines = [pose_record(i, i / 60, half_size_view(cam, STANDING + [0.01 * i, 0, 0])) for i in range(6)]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        files.append(path)
    out = tmp_path / "p3d.jsonl"
    r = cli("triangulate", "--calibration", QCA, *files, "--image-size", "540x960", "--smooth", "none", "--json", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("intrinsics scaled by 0.5") == 4
    truth = np.stack([STANDING + [0.01 * i, 0, 0] for i in range(6)])
    assert np.abs(points_of(out) - truth).max() < 0.01  # within a centimetre
    wrong = cli("triangulate", "--calibration", QCA, *files, "--smooth", "none", "--json", tmp_path / "no.jsonl")
    assert wrong.returncode == 0 and np.median(np.abs(points_of(tmp_path / "no.jsonl") - truth)) > 0.1  # unscaled
    bad = cli("triangulate", "--calibration", QCA, *files, "--image-size", "960x960", "--json", tmp_path / "x.jsonl")
    assert bad.returncode == 2 and "aspect ratio" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_live_views_publish_typed_3d_frames_to_the_web_view(tmp_path):
    """Three cameras at half size, cam03 a frame late every third set: the 3D reaches a websockets client
    as {"type": "scene3d"} then {"type": "pose3d"} records (the --json3d lines), the 2D records untyped.
    The case runs in a fresh interpreter, its servers and their signal handlers apart from pytest's (in
    the whole suite's process it was where OpenVINO's unmapped signal stack first killed pytest, before
    runtime/signal_stack.py)."""
    require_shared(QCA)
    pytest.importorskip("websockets")
    done = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, timeout=180,
                          cwd=Path(__file__).parent)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (tmp_path / "live3d.jsonl").is_file()


def _live_views_case(calib, tmp_path: Path) -> None:
    from websockets.sync.client import connect

    from transpose_live.pipeline.sources import Frame
    from transpose_live.pipeline.web_app import WebServer
    from transpose_live.pipeline.web_view import LiveView
    from transpose_live.triangulation.live import LiveTriangulator, LiveViews, scene

    names = ["cam01", "cam02", "cam03"]
    view = LiveView(names)
    server = WebServer(view, "127.0.0.1:0").start()
    said: list[str] = []
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
            while view.clients != 1:
                time.sleep(0.01)
            tri = LiveTriangulator(read_calibration(QCA), tmp_path / "live3d.jsonl", fps=10,  # fitted to HALF
                                   outputs=(view.writer_3d(scene(calib, names)),), say=said.append)
            views = LiveViews(tri, names)
            view.writer(0).write(Frame(0, np.zeros((4, 4, 3), np.uint8), 0.0, time.perf_counter()),
                                 Poses.empty(), None)  # a 2D frame record among them
            for n in range(6):
                for name in names:
                    late = name == "cam03" and n % 3 == 2
                    points = STANDING + [0.02 * (n - late), 0, 0]
                    views.offer(name, 100 + n / 10 - 0.08 * late, half_size_view(calib.camera(name), points), HALF)
                views.settle()
            views.close()
            got = [json.loads(ws.recv(timeout=10)) for _ in range(1 + 1 + tri.frames)]
    finally:
        server.stop()
    assert said == [f"camera {n}: frames of 540x960, calibrated at 1088x1920: intrinsics scaled by 0.5" for n in names]
    assert got[0]["type"] == "scene3d" and [c["name"] for c in got[0]["cameras"]] == names
    assert len(got[0]["skeleton"]) > 10 and got[0]["keypoints"][0] == "nose"
    assert "type" not in got[1] and got[1]["frame"] == 0  # the 2D record as before
    frames = got[2:]
    assert [g["type"] for g in frames] == ["pose3d"] * 6 and all(g["dropped"] == 0 for g in frames)
    assert [g["late"] for g in frames] == [[], [], ["cam03"], [], [], ["cam03"]]
    for n, g in enumerate(frames):
        points = np.array([k[:3] for k in g["persons"][0]["keypoints"]])
        assert np.abs(points - (STANDING + [0.02 * n, 0, 0])).max() < 0.01, n
    written = [json.loads(line) for line in (tmp_path / "live3d.jsonl").read_text().splitlines()]
    assert written == [{k: v for k, v in g.items() if k not in ("type", "fps", "people", "dropped")} for g in frames]


@pytest.mark.slow
def test_served_live_3d_reaches_websockets_and_the_page_draws_it(calib, tmp_path):
    """3 cameras of the shared recording at half size (the calibration scaled), YOLO11n-pose, --serve."""
    pytest.importorskip("websockets")
    require_shared(POSE_WEIGHTS)
    clock = time.perf_counter() + 1.0
    names = ["cam01", "cam02", "cam04"]
    cams = [MjpegCamera(clip_jpegs(MULTIVIEW / "videos" / f"{n}.mp4", count=20, width=HALF[0]), fps=10,
                        clock=clock).start() for n in names]
    port = free_port()
    args = [a for n, cam in zip(names, cams) for a in ("--camera", f"{n}={cam.url}")]
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "webcam", *args, "--model", "detector",
                             "--detector-weights", str(POSE_WEIGHTS), "--detector-backend", "torch", "--device",
                             "cpu", "--threads", "1", "--no-show", "--no-progress", "--calibration", str(QCA),
                             "--serve", f"127.0.0.1:{port}"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    got: list[dict] = []
    stop = threading.Event()
    reader = threading.Thread(target=follow, args=(f"ws://127.0.0.1:{port}/ws", got, stop), daemon=True)
    reader.start()
    shot = tmp_path / "view.png"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len([g for g in got if g.get("type") == "pose3d" and g["persons"]]) < 6:
            assert proc.poll() is None, "".join(err)
            time.sleep(0.3)
        if shutil.which("chromium"):
            subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--timeout=8000",
                            "--window-size=1280,900", f"--screenshot={shot}", f"http://127.0.0.1:{port}/"],
                           capture_output=True, timeout=120)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=60)
        for cam in cams:
            cam.stop()
    text = "".join(err)
    # cam04's file is 1088 px wide (cam01, cam02: 1080), so its half size is 540x952: scaled by 540 / 1088
    assert len(re.findall(r"frames of 540x9(60|52), calibrated at 1088x1920: intrinsics scaled by 0\.(5|4963)\n",
                          text)) == 3, text
    scenes = [g for g in got if g.get("type") == "scene3d"]
    frames = [g for g in got if g.get("type") == "pose3d"]
    assert scenes and [c["name"] for c in scenes[0]["cameras"]] == names, got[:3]
    assert any("type" not in g and "camera_name" in g for g in got)  # the 2D records beside them
    seen = [g for g in frames if g["persons"]]
    assert len(seen) >= 6, (len(frames), text[-2000:])
    legs = leg_lengths(first_person_points(seen), COCO17)
    assert legs["thigh"] is not None and 0.3 <= legs["thigh"] <= 0.55, legs
    assert re.search(r"3D: \d+ of \d+ frames triangulated", text), text[-2000:]
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (.ci/run installs it): the page was not looked at")
    picture = cv2.imread(str(shot))
    assert picture is not None, text[-2000:]
    # the 3D card is the grid's first cell (left column, above the 4th card); people in their track's colour
    left = picture[40:700, : picture.shape[1] // 3].astype(int)
    colours = [(0xff, 0x9f, 0x1c), (0x2e, 0xc4, 0xb6), (0xff, 0x4d, 0x6d), (0xb3, 0x88, 0xff), (0xff, 0xe0, 0x66),
               (0x4d, 0xab, 0xf7)]
    drawn = sum(int((np.abs(left - [b, g, r]).sum(axis=2) < 40).sum()) for r, g, b in colours)
    assert drawn > 150, drawn


if __name__ == "__main__":  # the live-views case in a fresh interpreter
    _live_views_case(read_calibration(QCA), Path(sys.argv[1]))
