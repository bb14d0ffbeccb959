"""Media people can share, through the real CLI (tp_r_a3 with the conformance weights, whole
frame as the person): H.264 MP4 that headless Chromium decodes, the input's sound kept (or
dropped), JSONL timestamps equal to the source's presentation times (variable frame rate),
phone rotation honoured, --csv equal to the JSONL, a truncated file reported, and a live
recording whose frames sit at their capture times."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest
from helpers import CLIPS, COCO_MINI, lines_written, require_shared
from media_helpers import (
    decoded_images,
    describe,
    presentation_times,
    source_frames,
    stream_ends,
    write_timed_clip,
)

from transpose_live.cli import main
from transpose_live.keypoints import KEYPOINT_NAMES
from transpose_live.media import EncodeOptions, VideoEncoder

SQUAT = CLIPS / "squat.mp4"
FRAMES = 5  # rendered frames of the 24-frame excerpt


@pytest.fixture(scope="module")
def common(filled_checkpoint):
    return ["--model", "tp_r_a3", "--weights", str(filled_checkpoint("tp_r_a3")), "--device", "cpu",
            "--detector", "none", "--no-progress", "--smooth", "none"]


@pytest.fixture(scope="module")
def rendered(squat24, common, tmp_path_factory):
    """`video squat24.mp4 --max-frames 5 --out --json --csv` (stopped early like an interrupted run)."""
    folder = tmp_path_factory.mktemp("rendered")
    out, js, table = folder / "out.mp4", folder / "out.jsonl", folder / "out.csv"
    rc = main(["video", str(squat24), "--out", str(out), "--json", str(js), "--csv", str(table),
               "--max-frames", str(FRAMES), *common])
    assert rc == 0
    return out, [json.loads(line) for line in js.read_text().splitlines()], table


def test_output_is_h264_with_the_sound_up_to_the_last_frame(rendered, squat24):
    out, records, _ = rendered
    info = describe(out)
    assert info["video"] == ("h264", 960, 544, "yuv420p") and info["audio"][0] == "aac"
    ends = stream_ends(out)
    assert ends["video"] == pytest.approx(FRAMES / 30, abs=2e-3)
    assert abs(ends["audio"] - ends["video"]) < 0.1
    assert [r["timestamp"] for r in records] == [round(t, 4) for t in presentation_times(squat24)[:FRAMES]]
    assert presentation_times(out) == pytest.approx(presentation_times(squat24)[:FRAMES], abs=1e-4)


def test_csv_rows_equal_the_jsonl(rendered):
    _, records, table = rendered
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:8] == ["frame", "timestamp", "track_id", "box_x1", "box_y1", "box_x2", "box_y2", "box_score"]
    assert header[8:] == [f"{k}_{c}" for k in KEYPOINT_NAMES for c in ("x", "y", "score")]
    expected = [[r["frame"], r["timestamp"], p["track_id"], *p["box"], p["box_score"],
                 *[v for kp in p["keypoints"] for v in kp]] for r in records for p in r["persons"]]
    assert len(rows) - 1 == len(expected) == FRAMES  # one person (the whole frame) per frame
    assert [[float(v) for v in row] for row in rows[1:]] == expected


def test_no_audio_drops_the_sound(squat24, common, tmp_path):
    out = tmp_path / "silent.mp4"
    assert main(["video", str(squat24), "--out", str(out), "--no-audio", "--max-frames", "2", *common]) == 0
    assert set(describe(out)) == {"video"}


def test_variable_frame_rate_keeps_the_source_times(common, tmp_path):
    times = [0.0, 0.021, 0.09, 0.233, 0.25]
    clip = tmp_path / "vfr.mp4"
    write_timed_clip(clip, source_frames(require_shared(SQUAT), len(times), (320, 180)), times)
    assert presentation_times(clip) == pytest.approx(times, abs=1e-6)
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    assert main(["video", str(clip), "--out", str(out), "--json", str(js), *common]) == 0
    got = [json.loads(line)["timestamp"] for line in js.read_text().splitlines()]
    assert got == [round(t, 4) for t in presentation_times(clip)]
    assert presentation_times(out) == pytest.approx(times, abs=1e-4)  # plays at the source's speed


def test_phone_rotation_comes_out_upright(common, tmp_path):
    upright = source_frames(require_shared(SQUAT), 2, (320, 180))
    clip = tmp_path / "phone.mp4"
    write_timed_clip(clip, [np.ascontiguousarray(np.rot90(img, -1)) for img in upright], [0.0, 1 / 30], rotation=90)
    assert describe(clip)["video"][1:3] == (180, 320)  # stored sideways
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    assert main(["video", str(clip), "--out", str(out), "--json", str(js), *common]) == 0
    assert describe(out)["video"][1:3] == (320, 180)
    records = [json.loads(line) for line in js.read_text().splitlines()]
    assert [p["box"] for r in records for p in r["persons"]] == [[0, 0, 320, 180]] * 2  # the upright frame
    got = decoded_images(out)[0].astype(np.int16)
    wrong = np.rot90(np.rot90(upright[0]))  # upside down: what a wrong turn would give
    assert np.abs(got - upright[0]).mean() < 0.5 * np.abs(got - wrong).mean()


def test_truncated_file_is_reported_with_the_frame_index(squat24, common, tmp_path, capsys):
    with av.open(str(squat24)) as c:  # cut the file inside its third video packet
        pos, size = [(p.pos, p.size) for p in c.demux(video=0) if p.size][2]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(squat24.read_bytes()[: pos + size // 2])
    js = tmp_path / "o.jsonl"
    assert main(["video", str(cut), "--json", str(js), *common]) == 0
    n = len(js.read_text().splitlines())
    err = capsys.readouterr().err
    assert 0 < n < 24
    assert f"{n} frames" in err and "| 1 warning" in err
    assert f"warning: cut.mp4: video ended at frame {n} of the 24 its container announces" in err


def test_image_csv_names_the_picture(common, tmp_path):
    image = sorted((require_shared(COCO_MINI) / "val2017").glob("*.jpg"))[0]
    table = tmp_path / "i.csv"
    assert main(["image", str(image), "--csv", str(table), *common]) == 0
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["image"] == image.name and rows[0]["frame"] == "0"
    assert float(rows[0]["box_x1"]) == 0 and float(rows[0]["nose_score"]) >= 0


def test_live_recording_puts_frames_at_their_capture_times(common, tmp_path):
    clip = tmp_path / "long.mp4"  # 20 s at 5 fps: plays live while a few frames are processed
    frames = source_frames(require_shared(SQUAT), 4, (160, 90))
    write_timed_clip(clip, [frames[i % 4] for i in range(100)], [i / 5 for i in range(100)])
    out, js = tmp_path / "rec.mp4", tmp_path / "rec.jsonl"
    assert main(["webcam", "--camera", str(clip), "--no-show", "--out", str(out), "--json", str(js),
                 "--max-frames", "3", *common]) == 0
    stamps = [json.loads(line)["timestamp"] for line in js.read_text().splitlines()]
    assert len(stamps) == 3 and set(describe(out)) == {"video"}  # a camera recording is silent
    # each frame is shown from the moment it was captured: the file plays at the speed it was filmed
    assert presentation_times(out) == pytest.approx([t - stamps[0] for t in stamps], abs=2e-4)


# --- a real browser -------------------------------------------------------------------------------

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const names = %s, results = {};
function done() {
  if (Object.keys(results).length === names.length) document.getElementById("out").textContent = JSON.stringify(results);
}
for (const name of names) {
  const v = document.createElement("video");
  v.muted = true; v.preload = "auto";
  v.addEventListener("loadeddata", () => {
    results[name] = {width: v.videoWidth, height: v.videoHeight, duration: v.duration, ready: v.readyState}; done(); });
  v.addEventListener("error", () => { results[name] = {error: v.error ? v.error.code : -1}; done(); });
  v.src = name; document.body.appendChild(v);
}
</script></body></html>"""


def chromium_reads(folder, names, profile) -> dict:
    """Serves `folder` on 127.0.0.1, opens a page with a <video> per name in headless Chromium and
    returns what the page saw (size and duration once a frame is decoded, or the MediaError code)."""
    (folder / "page.html").write_text(PAGE % json.dumps(names))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = subprocess.run(
            [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom",
             f"http://127.0.0.1:{server.server_port}/page.html"],
            capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    found = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1) != "pending", proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(found.group(1))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (.ci/run installs it)")
def test_chromium_plays_our_mp4(rendered, tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy(rendered[0], folder / "out.mp4")
    frames = source_frames(require_shared(SQUAT), 6, (321, 181))
    for name, options in (("odd.mp4", EncodeOptions()), ("mp4v.mp4", EncodeOptions("mp4v"))):
        enc = VideoEncoder(folder / name, 30.0, (321, 181), options)
        for i, img in enumerate(frames):
            enc.write(img, i / 30)
        enc.close()
    seen = chromium_reads(folder, ["out.mp4", "odd.mp4", "mp4v.mp4"], tmp_path / "profile")
    assert seen["out.mp4"]["width"] == 960 and seen["out.mp4"]["height"] == 544
    assert abs(seen["out.mp4"]["duration"] - FRAMES / 30) < 1 / 30
    assert (seen["odd.mp4"]["width"], seen["odd.mp4"]["height"]) == (322, 182)
    assert abs(seen["odd.mp4"]["duration"] - 6 / 30) < 1 / 30
    assert seen["mp4v.mp4"] == {"error": 4}  # MPEG-4 Part 2 (what OpenCV writes): not supported


@pytest.mark.slow
def test_ctrl_c_closes_a_playable_file_with_sound_up_to_the_last_frame(squat24, common, tmp_path):
    out, js = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "transpose_live", "video", str(squat24), "--out", str(out),
                             "--json", str(js), *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if lines_written(js) >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        assert not out.exists()  # still being written under its temporary name
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    n = len(js.read_text().splitlines())
    assert 1 <= n < 24 and len(presentation_times(out)) == n
    ends = stream_ends(out)
    assert ends["video"] == pytest.approx(n / 30, abs=2e-3) and abs(ends["audio"] - ends["video"]) < 0.1
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("args,needle", [(["--codec", "av1"], "unknown --codec 'av1'"),
                                         (["--crf", "99"], "--crf 99 is out of range for h264"),
                                         (["--out", "x.webm"], "a .webm file cannot hold h264 video")])
def test_bad_encode_options_are_one_line_before_any_work(squat24, common, tmp_path, capsys, args, needle):
    out = ["--out", str(tmp_path / "o.mp4")] if args[0] != "--out" else ["--out", str(tmp_path / args[1])]
    rest = args if args[0] != "--out" else []
    assert main(["video", str(squat24), *out, *rest, *common]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err
    assert list(tmp_path.iterdir()) == []  # nothing written
