"""Live cameras that never give up, against real servers on 127.0.0.1: an MJPEG-over-HTTP IP camera
and GStreamer's RTSP server, each killed and restarted while `transpose-live webcam` runs. The run
reconnects, prints one line per loss and per reconnection, writes the event lines into the JSONL,
records both sides of the outage at their true times, and still answers Ctrl-C with 130 and complete
outputs. Also: --no-reconnect and --give-up-after on the source itself."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers import CLIPS, lines_written, require_shared
from live_servers import MjpegCamera, RtspCamera, clip_jpegs, have_rtsp_server
from media_helpers import presentation_times

from transpose_live.pipeline.stream_source import ReconnectPolicy, StreamSource

SQUAT = CLIPS / "squat.mp4"


@pytest.fixture(scope="module")
def jpegs():
    return clip_jpegs(require_shared(SQUAT), count=30)


@pytest.fixture(scope="module")
def common(filled_checkpoint):
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector", "none", "--smooth", "none", "--threads", "1", "--read-timeout", "2"]


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_through_outage(camera, common, tmp_path, down_seconds=2.5):
    """webcam on `camera`: waits for frames, kills the server, restarts it after `down_seconds`,
    waits for frames after the reconnection, then Ctrl-C. Returns (rc, stderr, jsonl records, mp4)."""
    js, out = tmp_path / "live.jsonl", tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "webcam", "--camera", camera.url, "--json", str(js),
                             "--out", str(out), *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err_lines: list[str] = []
    threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True).start()
    try:
        wait_for(lambda: lines_written(js) >= 3, proc, err_lines)
        camera.stop()
        wait_for(lambda: any("stream lost" in line for line in err_lines), proc, err_lines)
        time.sleep(down_seconds)
        camera.start()
        wait_for(lambda: any("reconnected" in line for line in err_lines), proc, err_lines, timeout=30)
        before = lines_written(js)
        wait_for(lambda: lines_written(js) >= before + 3, proc, err_lines)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        camera.stop()
    time.sleep(0.2)  # the stderr reader's last lines
    return proc.returncode, "".join(err_lines), records(js), out


def wait_for(condition, proc, err_lines, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        assert proc.poll() is None, "".join(err_lines)
        time.sleep(0.05)
    raise AssertionError("timed out; stderr:\n" + "".join(err_lines))


def check_outage_recorded(rc, err, lines, out, down_seconds):
    assert rc == 130, err
    assert err.count("stream lost") == 1 and err.count("reconnected after") == 1, err
    assert "1 outage" in err and "interrupted by Ctrl-C" in err
    kinds = [r.get("event", "frame") for r in lines]
    lost, back = kinds.index("lost"), kinds.index("reconnected")
    assert 3 <= lost < back < len(kinds) - 2 and kinds.count("frame") == len(kinds) - 2  # frames on both sides
    assert [r["timestamp"] for r in lines] == sorted(r["timestamp"] for r in lines)  # events in time order with frames
    frames = [r for r in lines if "frame" in r]
    stamps = [r["timestamp"] for r in frames]
    assert stamps == sorted(stamps) and all(r["camera"] == 0 for r in frames)
    gap = lines[back + 1]["timestamp"] - lines[lost - 1]["timestamp"]
    assert gap >= down_seconds  # true timestamps: the outage is in the clock
    assert lines[back]["downtime"] >= down_seconds and lines[back]["downtime"] < gap + 0.5
    pts = presentation_times(out)
    assert len(pts) == len(frames)  # the recording has every frame of both sides, at its own time
    assert pts == pytest.approx([t - stamps[0] for t in stamps], abs=2e-3)


@pytest.mark.slow
def test_mjpeg_camera_killed_and_restarted(jpegs, common, tmp_path):
    camera = MjpegCamera(jpegs, fps=15).start()
    rc, err, lines, out = run_through_outage(camera, common, tmp_path)
    check_outage_recorded(rc, err, lines, out, 2.5)


@pytest.mark.slow
@pytest.mark.skipif(not have_rtsp_server(), reason="GStreamer's RTSP server is not installed (.ci/run installs it)")
def test_rtsp_server_killed_and_restarted(common, tmp_path):
    camera = RtspCamera(require_shared(SQUAT)).start()
    rc, err, lines, out = run_through_outage(camera, common, tmp_path)
    check_outage_recorded(rc, err, lines, out, 2.5)


def take(source, n, timeout=20.0):
    frames, deadline = [], time.time() + timeout
    for frame in source:
        frames.append(frame)
        if len(frames) >= n or time.time() > deadline:
            break
    return frames


def test_no_reconnect_ends_the_stream(jpegs):
    camera = MjpegCamera(jpegs, fps=30).start()
    src = StreamSource(camera.url, ReconnectPolicy(reconnect=False, read_timeout=2))
    try:
        assert len(take(src, 5)) == 5
        camera.stop()
        rest = list(src)  # ends by itself
        assert len(rest) < 60 and [e.kind for e in src.events] == ["ended"] and src.outages == 1
    finally:
        src.close()
        camera.stop()


def test_give_up_after_and_back_off(jpegs):
    camera = MjpegCamera(jpegs, fps=30).start()
    src = StreamSource(camera.url, ReconnectPolicy(give_up_after=1.8, read_timeout=2))
    try:
        take(src, 3)
        camera.stop()
        t0 = time.perf_counter()
        list(src)
        waited = time.perf_counter() - t0
        kinds = [e.kind for e in src.events]
        assert kinds == ["lost", "gave_up"] and src.gave_up
        assert src.events[1].attempts == 3  # tried after 0.5 s, 1 s more, and last at the 1.8 s limit
        assert 1.8 <= src.events[1].downtime < 3 and waited < 4
        assert src.downtime == pytest.approx(src.events[1].downtime, abs=0.2)
    finally:
        src.close()
    delays = ReconnectPolicy().delays()
    assert [next(delays) for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]


def test_a_stalled_stream_is_a_loss(jpegs):
    """The server keeps the connection open but stops sending: the read timeout declares the loss."""
    camera = MjpegCamera(jpegs, fps=30).start()
    src = StreamSource(camera.url, ReconnectPolicy(read_timeout=1.0, reconnect=False))
    try:
        take(src, 3)
        camera.paused = True  # connection open, no more frames
        t0 = time.perf_counter()
        list(src)
        assert time.perf_counter() - t0 < 8
        assert src.events[0].kind == "ended" and "timeout" in src.events[0].reason
    finally:
        src.close()
        camera.stop()


def test_wrong_address_is_one_line(common, capsys):
    from transpose_live.cli import main

    from live_servers import free_port

    rc = main(["webcam", "--camera", f"http://127.0.0.1:{free_port()}/none.mjpg", *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: cannot open camera"), err


def test_no_reconnect_run_ends_with_exit_1_and_complete_outputs(jpegs, common, tmp_path, capsys):
    from transpose_live.cli import main

    camera = MjpegCamera(jpegs, fps=15).start()
    js = tmp_path / "live.jsonl"

    def cut_after_frames():
        deadline = time.time() + 90
        while lines_written(js) < 2 and time.time() < deadline:
            time.sleep(0.05)
        camera.stop()

    threading.Thread(target=cut_after_frames, daemon=True).start()
    rc = main(["webcam", "--camera", camera.url, "--no-reconnect", "--json", str(js), *common])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "not reconnecting (--no-reconnect)" in err and "lost" in err.splitlines()[-3]
    assert err.strip().splitlines()[-1].startswith("error: every camera was lost")
    lines = records(js)
    assert [r["timestamp"] for r in lines] == sorted(r["timestamp"] for r in lines)
    assert len(lines) >= 3 and lines[-1]["event"] == "ended" and all("frame" in r for r in lines[:-1])


@pytest.mark.slow  # > 2 s: outside the fast subset (docs/architecture.md)
@pytest.mark.skipif(not have_rtsp_server(), reason="GStreamer's RTSP server is not installed (.ci/run installs it)")
def test_rtsp_over_udp_and_tcp():
    camera = RtspCamera(require_shared(SQUAT)).start()
    try:
        for udp in (False, True):
            src = StreamSource(camera.url, ReconnectPolicy(rtsp_udp=udp, read_timeout=3))
            try:
                frames = take(src, 5)
                assert src._options()["rtsp_transport"] == ("udp" if udp else "tcp")
                assert len(frames) == 5 and frames[-1].image.shape == (184, 320, 3)
            finally:
                src.close()
    finally:
        camera.stop()
