"""`--serve` /ws: real `websockets` clients against the real uvicorn server on loopback. The token
rule beyond loopback (401 / 403 at the handshake); every frame in order with the JSONL record and the
camera; a stalled client (it never reads, tiny receive buffer) loses frames, counted, while the pose
loop's writes never wait and a reading client beside it gets every frame; a dropped client is
forgotten and a reconnecting one resumes; a `video --serve` run and a live camera run reach a client
frame by frame (the same records as their JSONL)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import CLIPS, require_shared
from live_servers import MjpegCamera, clip_jpegs, free_port
from ws_clients import follow, stalled_client

from transpose_live.pipeline.sources import Frame
from transpose_live.pipeline.web_app import WebServer
from transpose_live.pipeline.web_view import LiveView
from transpose_live.poses import Poses

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect  # noqa: E402

IMAGE = np.zeros((48, 64, 3), np.uint8)


def feed(view, frames, camera=0, persons=1, start=0):
    """`frames` frames of `persons` people through camera `camera`'s ViewWriter (as the output thread)."""
    writer = view.writer(camera)
    kpts = np.tile(np.array([[50.0, 60.0, 0.9]], np.float32), (persons, 17, 1))
    boxes = np.tile(np.array([[10, 20, 110, 170]], np.float32), (persons, 1))
    for i in range(start, start + frames):
        frame = Frame(i, IMAGE, i / 15, time.perf_counter(), camera=camera, camera_name=view.names[camera])
        writer.write(frame, Poses(keypoints=kpts, boxes=boxes, box_scores=np.ones(persons, np.float32)), IMAGE)


def receive(ws, count, timeout=20):
    return [json.loads(ws.recv(timeout=timeout)) for _ in range(count)]


@pytest.fixture
def served():
    view = LiveView(["door", "desk"])
    server = WebServer(view, "127.0.0.1:0").start()
    yield view, server, f"ws://127.0.0.1:{server.port}/ws"
    server.stop()


def wait_clients(view, n):
    deadline = time.time() + 10
    while view.clients != n and time.time() < deadline:
        time.sleep(0.01)
    assert view.clients == n


def test_token_rule_beyond_loopback():
    view = LiveView(["door"])
    server = WebServer(view, "0.0.0.0:0").start()
    try:
        url = f"ws://127.0.0.1:{server.port}/ws"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            connect(url, open_timeout=10)
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.exceptions.InvalidStatus) as wrong:
            connect(url + "?token=wrong", open_timeout=10)
        assert wrong.value.response.status_code == 403
        for how in ({"uri": f"{url}?token={server.token}"},
                    {"uri": url, "additional_headers": {"Authorization": f"Bearer {server.token}"}}):
            with connect(**how, open_timeout=10) as ws:
                wait_clients(view, 1)
                feed(view, 1)
                got = receive(ws, 1)[-1]
                assert got["camera_name"] == "door" and got["persons"][0]["box"] == [10.0, 20.0, 110.0, 170.0]
            wait_clients(view, 0)
    finally:
        server.stop()


def test_every_frame_in_order_with_its_camera(served):
    view, _, url = served
    with connect(url, open_timeout=10) as ws:
        wait_clients(view, 1)
        feed(view, 12, camera=1)
        feed(view, 3, camera=0)
        got = receive(ws, 15)
    assert [(g["camera"], g["camera_name"], g["frame"]) for g in got] == \
        [(1, "desk", i) for i in range(12)] + [(0, "door", i) for i in range(3)]
    assert all(g["dropped"] == 0 and g["people"] == 1 and len(g["persons"][0]["keypoints"]) == 17 for g in got)
    assert {"frame", "timestamp", "persons", "fps", "latency_ms"} <= set(got[0])
    view.add_event({"camera": 0, "camera_name": "door", "event": "lost", "timestamp": 1.0})
    with connect(url, open_timeout=10) as ws:  # a new client first gets where each camera stands
        first = receive(ws, 2)
        assert [(g["camera"], g["frame"]) for g in first] == [(0, 2), (1, 11)]


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_stalled_client_loses_frames_counted_and_never_slows_the_loop(served):
    view, server, url = served
    stalled = stalled_client(server.port)
    try:
        with connect(url, open_timeout=10, max_size=None) as reader:
            wait_clients(view, 2)
            got = []
            for chunk in range(40):  # 40 x 10 frames of 30 people (~30 kB each), the reader keeping up
                feed(view, 10, persons=30, start=10 * chunk)
                got += receive(reader, 10)
            assert [g["frame"] for g in got] == list(range(400)) and got[-1]["dropped"] == 0
        # the stalled client: the server could not send it everything; its queue kept the newest
        stalled.settimeout(10)
        data = b""
        deadline = time.time() + 20
        while b'"frame":399' not in data and time.time() < deadline:
            data += stalled.recv(1 << 20)
        dropped = [int(d) for d in re.findall(rb'"dropped":(\d+)', data)]
        frames = [int(f) for f in re.findall(rb'"frame":(\d+)', data)]
        assert frames[-1] == 399 and dropped[-1] > 0 and len(frames) + dropped[-1] == 400, (len(frames), dropped[-1:])
    finally:
        stalled.close()


def test_dropped_client_is_forgotten_and_a_reconnecting_one_resumes(served):
    view, _, url = served
    with connect(url, open_timeout=10) as ws:
        wait_clients(view, 1)
        feed(view, 3)
        assert [g["frame"] for g in receive(ws, 3)] == [0, 1, 2]
        ws.socket.shutdown(socket.SHUT_RDWR)  # cut, no closing handshake
    feed(view, 3, start=3)
    wait_clients(view, 0)
    with connect(url, open_timeout=10) as again:
        feed(view, 2, start=6)
        assert [g["frame"] for g in receive(again, 3)] == [5, 6, 7]  # where it stands, then onwards


def run_served(args: list[str], port: int, cwd) -> list[dict]:
    got: list[dict] = []
    stop = threading.Event()
    thread = threading.Thread(target=follow, args=(f"ws://127.0.0.1:{port}/ws", got, stop), daemon=True)
    thread.start()
    proc = subprocess.run([sys.executable, "-m", "transpose_live", *args, "--serve", f"127.0.0.1:{port}"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    stop.set()
    thread.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert got and got[-1] == {"event": "closed", "code": 1000}, got[-1:]  # the server closed: the run ended
    return [g for g in got if "event" not in g]


def frames_of(path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "event" not in r]


def same_records(got: list[dict], written: list[dict]) -> None:
    assert [g["frame"] for g in got] == [r["frame"] for r in written]
    for g, r in zip(got, written):
        assert g["persons"] == r["persons"] and g["timestamp"] == r["timestamp"] and g["dropped"] == 0


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_run_reaches_a_client_frame_by_frame(common, tmp_path):
    clip = require_shared(CLIPS / "walking.mp4")
    got = run_served(["video", str(clip), "--max-frames", "8", "--json", "p.jsonl", *common], free_port(), tmp_path)
    same_records(got, frames_of(tmp_path / "p.jsonl"))
    assert {g["camera_name"] for g in got} == {clip.name} or {g["camera"] for g in got} == {0}


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_live_camera_run_reaches_a_client_frame_by_frame(common, tmp_path):
    camera = MjpegCamera(clip_jpegs(require_shared(CLIPS / "squat.mp4"), count=20), fps=15).start()
    try:
        got = run_served(["webcam", "--camera", f"door={camera.url}", "--max-frames", "6", "--json", "live.jsonl",
                          "--no-show", *common], free_port(), tmp_path)
    finally:
        camera.stop()
    written = frames_of(tmp_path / "live.jsonl")
    assert len(written) == 6 and {g["camera_name"] for g in got} == {"door"}
    same_records(got, written)
