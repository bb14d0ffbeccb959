"""`--serve`: the web view on real uvicorn over loopback. Beyond loopback the token is required
(401 without, 403 wrong, 200 right); on loopback the app is open; /poses, /frame, /events serve what
the pose loop wrote; encoding drops stale frames instead of queueing them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from helpers import CLIPS, require_shared
from live_servers import clip_jpegs

from transpose_live.errors import UserError
from transpose_live.pipeline.sources import Frame
from transpose_live.pipeline.web_app import WebServer, parse_bind
from transpose_live.pipeline.web_view import LiveView
from transpose_live.poses import Poses


@pytest.fixture(scope="module")
def images():
    return [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)
            for j in clip_jpegs(require_shared(CLIPS / "squat.mp4"), count=5)]


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("content-type"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, None, exc.read()


def feed(view, images, camera=0, start=0):
    writer = view.writer(camera)
    for i, image in enumerate(images):
        box = np.array([[10, 20, 110, 170]], np.float32)
        kpts = np.tile(np.array([[50.0, 60.0, 0.9]], np.float32), (17, 1))[None]
        poses = Poses(keypoints=kpts, boxes=box, box_scores=np.ones(1, np.float32))
        frame = Frame(start + i, image, (start + i) / 15, time.perf_counter(), camera=camera, camera_name=view.names[camera])
        writer.write(frame, poses, image)


def wait_encoded(view, n=1):
    deadline = time.time() + 5
    while view.encoded < n and time.time() < deadline:
        time.sleep(0.01)


def test_token_refused_and_accepted_beyond_loopback(images):
    view = LiveView(["door"])
    server = WebServer(view, "0.0.0.0:0").start()
    try:
        feed(view, images)
        wait_encoded(view)
        assert server.token and server.url.endswith(f"?token={server.token}")
        base = f"http://127.0.0.1:{server.port}"
        assert get(base + "/")[0] == 401
        assert get(base + "/poses")[0] == 401
        assert get(base + "/frame/0.jpg?token=wrong")[0] == 403
        status, kind, body = get(base + f"/?token={server.token}")
        assert status == 200 and kind.startswith("text/html") and b"EventSource" in body
        status, _, body = get(base + "/poses", {"Authorization": f"Bearer {server.token}"})
        latest = json.loads(body)["cameras"][0]["latest"]
        assert status == 200 and latest["frame"] == 4 and latest["camera_name"] == "door"
        assert latest["persons"][0]["box"] == [10.0, 20.0, 110.0, 170.0] and latest["people"] == 1
        status, kind, body = get(base + f"/frame/0.jpg?token={server.token}")
        jpeg = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and kind == "image/jpeg" and jpeg.shape == images[0].shape
    finally:
        server.stop()


def test_loopback_is_open_and_events_stream(images):
    view = LiveView(["a", "b"])
    server = WebServer(view, "127.0.0.1:0").start()
    try:
        assert server.token is None
        base = f"http://127.0.0.1:{server.port}"
        assert get(base + "/frame/1.jpg")[0] == 404  # nothing yet
        with urllib.request.urlopen(base + "/events", timeout=10) as stream:
            assert stream.readline() == b"retry: 1000\n"  # connected: every change from now on arrives
            feed(view, images[:2], camera=1)
            seen = []
            while len(seen) < 2:
                line = stream.readline().decode()
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
        assert [(s["camera"], s["camera_name"], s["frame"]) for s in seen] == [(1, "b", 0), (1, "b", 1)]
        assert get(base + "/poses")[0] == 200
    finally:
        server.stop()


def test_stale_frames_are_dropped_not_queued(images):
    """The writer only swaps a reference: 200 frames offered at once cost the pose loop next to
    nothing, and the encoder skips to the newest instead of encoding all of them."""
    view = LiveView(["cam"])
    try:
        t0 = time.perf_counter()
        feed(view, images * 40)
        offered = time.perf_counter() - t0
        wait_encoded(view)
        time.sleep(0.3)
        assert view.encoded < 100 and offered < 1.0
        assert view.snapshot()["cameras"][0]["latest"]["frame"] == 199
    finally:
        view.close()


@pytest.mark.parametrize("text", ["8080x", "host:", "1.2.3.4:99999"])
def test_bad_bind_is_a_user_error(text):
    with pytest.raises(UserError, match="--serve"):
        parse_bind(text)
