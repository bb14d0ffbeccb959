"""`--osc HOST:PORT`: a real python-osc server on 127.0.0.1 receives every frame's poses of a `video`
run and of a live camera run (an MJPEG camera on loopback), in the documented address scheme, the
same numbers as the run's JSONL; a bad target is one clear line before anything loads."""

from __future__ import annotations

import json
import threading

import pytest
from helpers import CLIPS, require_shared
from live_servers import MjpegCamera, clip_jpegs

from transpose_live.cli import main
from transpose_live.keypoints import COCO17

pytest.importorskip("pythonosc")


class OscReceiver:
    """python-osc's threading UDP server on 127.0.0.1 (any free port), keeping every message."""

    def __init__(self) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import ThreadingOSCUDPServer

        self.messages: list[tuple[str, tuple]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.target = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def frames(self, camera: str) -> dict[int, dict]:
        """frame index -> {"timestamp", "persons", "poses": {id: {part: args}}} for `camera`."""
        out: dict[int, dict] = {}
        current = None
        for address, args in self.messages:
            parts = address.strip("/").split("/")
            if parts[:2] == ["frame", camera]:
                current = out.setdefault(int(args[0]), {"timestamp": args[1], "persons": args[2], "poses": {}})
            elif parts[:2] == ["pose", camera] and current is not None:
                current["poses"].setdefault(parts[2], {})[parts[3]] = args
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = OscReceiver()
    yield r
    r.stop()


def same_as_jsonl(received: dict, lines: list[dict]) -> None:
    assert sorted(received) == [r["frame"] for r in lines]  # every frame arrived
    for record in lines:
        got = received[record["frame"]]
        assert got["persons"] == len(record["persons"]) and got["timestamp"] == pytest.approx(record["timestamp"], abs=1e-3)
        for i, person in enumerate(record["persons"]):
            pid = str(person["track_id"]) if person["track_id"] >= 0 else f"n{i}"
            parts = got["poses"][pid]
            assert set(parts) == {"box", *COCO17.names}
            assert parts["box"][:4] == pytest.approx(person["box"], abs=0.01)
            for name, (x, y, s) in zip(COCO17.names, person["keypoints"]):
                assert parts[name] == pytest.approx((x, y, s), abs=0.01)


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
def test_video_run_sends_every_frame(common, receiver, tmp_path):
    clip = require_shared(CLIPS / "walking.mp4")
    js = tmp_path / "poses.jsonl"
    assert main(["video", str(clip), "--max-frames", "6", "--json", str(js), "--osc", receiver.target, *common]) == 0
    lines = [json.loads(line) for line in js.read_text().splitlines()]
    assert len(lines) == 6 and any(r["persons"] for r in lines)
    received = receiver.frames("0")
    same_as_jsonl(received, lines)
    assert any(received[f]["poses"] for f in received)


def test_live_camera_run_sends_every_frame(common, receiver, tmp_path):
    camera = MjpegCamera(clip_jpegs(require_shared(CLIPS / "squat.mp4"), count=20), fps=15).start()
    try:
        assert main(["webcam", "--camera", f"door={camera.url}", "--max-frames", "5", "--json",
                     str(tmp_path / "live.jsonl"), "--osc", receiver.target, "--no-show", *common]) == 0
    finally:
        camera.stop()
    lines = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    lines = [r for r in lines if "event" not in r]
    assert len(lines) == 5 and {r["camera_name"] for r in lines} == {"door"}
    same_as_jsonl(receiver.frames("door"), lines)


@pytest.mark.parametrize("target, said", [("9000", "HOST:PORT"), ("host:port", "HOST:PORT"),
                                          ("no-such-host.invalid:9000", "cannot resolve")])
def test_bad_target_is_one_line(common, tmp_path, capsys, target, said):
    rc = main(["video", str(tmp_path / "missing.mp4"), "--osc", target, *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and said in err[0] and "--osc" in err[0], err
