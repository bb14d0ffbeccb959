"""transpose_live.media on real files, no pose model: the PyAV encoder (H.264/HEVC/VP9, odd
sizes, frame times, sound copied or re-encoded and cut at the last frame, atomic rename), the
OpenCV fallback without PyAV, and the PyAV decoder (true times, rotation, truncated files)."""

from __future__ import annotations

import re
from fractions import Fraction

import av
import numpy as np
import pytest

from helpers import CLIPS, require_shared
from media_helpers import (decoded_images, describe, presentation_times, source_frames, stream_ends,
                           write_timed_clip)
from transpose_live.errors import UserError
from transpose_live.media import EncodeOptions, VideoDecoder, VideoEncoder, check_video_output
from transpose_live.pipeline import open_video

SQUAT = CLIPS / "squat.mp4"


@pytest.fixture(scope="module")
def small_frames():
    return source_frames(require_shared(SQUAT), 12, (320, 180))


def test_encoder_odd_size_frame_times_and_atomic_rename(tmp_path, small_frames):
    out = tmp_path / "odd.mp4"
    times = [0.0, 0.05, 0.09, 0.2, 0.21, 0.5, 0.52, 0.6, 0.61, 0.7, 0.9, 0.95]
    enc = VideoEncoder(out, 30.0, (321, 181))
    for img, t in zip(small_frames, times):
        enc.write(np.ascontiguousarray(np.pad(img, ((0, 1), (0, 1), (0, 0)), mode="edge")), t)
    assert not out.exists() and len(list(tmp_path.glob(".odd.*.partial.mp4"))) == 1  # never half a file under the final name
    enc.close()
    assert out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
    assert describe(out) == {"video": ("h264", 322, 182, "yuv420p")}
    assert presentation_times(out) == pytest.approx(times, abs=1e-6)
    first = decoded_images(out)[0].astype(np.int16)
    assert np.abs(first[:180, :320] - small_frames[0]).mean() < 4  # same picture
    assert np.abs(first[181, :320] - first[180, :320]).mean() < 4  # padding repeats the edge


@pytest.mark.parametrize("codec,name,suffix", [("hevc", "hevc", ".mp4"), ("vp9", "vp9", ".webm"), ("mp4v", "mpeg4", ".mp4")])
def test_other_codecs(tmp_path, small_frames, codec, name, suffix):
    out = tmp_path / f"c{suffix}"
    enc = VideoEncoder(out, 30.0, (320, 180), EncodeOptions(codec, crf=None))
    for i, img in enumerate(small_frames[:4]):
        enc.write(img, i / 30)
    enc.close()
    assert describe(out)["video"][:3] == (name, 320, 180)
    assert len(presentation_times(out)) == 4


def test_options_are_checked_before_work():
    with pytest.raises(UserError, match="unknown --codec 'av1'"):
        EncodeOptions("av1")
    with pytest.raises(UserError, match="--crf 60 is out of range for h264"):
        EncodeOptions("h264", 60)
    with pytest.raises(UserError, match="cannot hold h264"):
        check_video_output("x.webm", EncodeOptions("h264"))
    with pytest.raises(UserError, match="unknown file type .gif"):
        check_video_output("x.gif")


def test_sound_is_copied_and_ends_with_the_last_frame(tmp_path, squat24):
    dec = VideoDecoder(squat24)
    assert dec.audio is not None and dec.audio.codec == "aac"
    out = tmp_path / "a.mp4"
    enc = VideoEncoder(out, dec.fps, dec.size, audio=dec.audio)
    frames = list(dec.frames())
    for f in frames[:10]:  # as if interrupted after 10 frames
        enc.write(f.image, f.timestamp)
    enc.close()
    dec.close()
    ends = stream_ends(out)
    assert ends["video"] == pytest.approx(10 / 30, abs=1e-3)
    assert abs(ends["audio"] - ends["video"]) < 0.1
    with av.open(str(out)) as got, av.open(str(squat24)) as src:  # copied, not re-encoded
        assert got.streams.audio[0].codec_context.extradata == src.streams.audio[0].codec_context.extradata
        copied = [bytes(p) for p in got.demux(audio=0) if p.size][:5]
        original = [bytes(p) for p in src.demux(audio=0) if p.size][:5]
        assert copied == original


def test_sound_mp4_cannot_hold_is_reencoded_to_aac(tmp_path, small_frames):
    src = tmp_path / "pcm.mkv"
    with av.open(str(src), "w") as out:  # 0.4 s of picture, 1 s of a 440 Hz tone as 16-bit PCM
        v = out.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 320, 180, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        for i, img in enumerate(small_frames[:4]):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 8000).astype(np.int16)
        for k in range(0, 16000, 1600):
            frame = av.AudioFrame.from_ndarray(tone[None, k:k + 1600], format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 16000, k, Fraction(1, 16000)
            for p in a.encode(frame):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    dec = VideoDecoder(src)
    assert dec.audio.codec == "pcm_s16le"
    out = tmp_path / "aac.mp4"
    enc = VideoEncoder(out, dec.fps, dec.size, audio=dec.audio)
    for f in dec.frames():
        enc.write(f.image, f.timestamp)
    enc.close()
    dec.close()
    assert describe(out)["audio"][0] == "aac"
    ends = stream_ends(out)
    assert ends["video"] == pytest.approx(0.4, abs=1e-3) and abs(ends["audio"] - ends["video"]) < 0.1
    with av.open(str(out)) as c:  # the tone is still there
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert np.abs(samples).max() > 0.1


def test_decoder_times_rotation_and_truncation(tmp_path, small_frames, squat24):
    upright = small_frames[:3]
    rotated = tmp_path / "phone.mp4"
    stored = [np.ascontiguousarray(np.rot90(img, -1)) for img in upright]  # sideways, 180x320
    write_timed_clip(rotated, stored, [0.0, 0.04, 0.1], rotation=90)  # shown turned 90 deg counter-clockwise
    dec = VideoDecoder(rotated)
    frames = list(dec.frames())
    assert dec.rotation == 90 and dec.size == (320, 180)
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.04, 0.1], abs=1e-9)
    for f, ref in zip(frames, upright):
        assert f.image.shape == ref.shape and np.abs(f.image.astype(np.int16) - ref).mean() < 4
    dec.close()

    data = squat24.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    source = open_video(cut)
    assert source.frame_count == 24
    n = sum(1 for _ in source)
    source.close()
    assert 0 < n < 24
    assert source.warnings == [f"cut.mp4: video ended at frame {n} of the 24 its container announces "
                               "(truncated or damaged file?)"]
    complete = open_video(squat24)
    assert sum(1 for _ in complete) == 24 and complete.warnings == []
    complete.close()


def test_damaged_frames_are_reported_with_their_index(tmp_path, squat24):
    with av.open(str(squat24)) as c:  # where the video packets lie in the file
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(squat24.read_bytes())
    rng = np.random.default_rng(0)
    for k in (5, 6, 7):  # no B-frames in squat.mp4: packet k is frame k
        pos, size = packets[k]
        data[pos + size // 4: pos + size] = rng.integers(0, 255, size - size // 4, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    dec = VideoDecoder(damaged)
    assert sum(1 for _ in dec.frames()) == 24  # FFmpeg conceals the damage...
    dec.close()
    reported = [int(m.group(1)) for w in dec.warnings for m in [re.search(r"frame (\d+) is damaged", w)] if m]
    assert reported and set(reported) <= {5, 6, 7}  # ...and says which frames it concealed
