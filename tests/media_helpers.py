"""Clips for the media tests, made with PyAV directly (independent of transpose_live.media):
a stream-copied excerpt with its AAC sound, clips with chosen (irregular) presentation times
or a display rotation, and readers of what a file holds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

TB = Fraction(1, 90000)


def cut_clip(src: Path, dst: Path, frames: int) -> float:
    """The first `frames` video packets of `src` (decode order, so all decodable) and the sound
    up to their end, stream-copied into `dst` (+faststart). Returns the video's end in seconds."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream_from_template(ain) if ain is not None else None
        step = 1 / float(vin.average_rate)
        end = 0.0
        packets = [p for _, p in zip(range(frames), (p for p in inp.demux(vin) if p.pts is not None))]
        for p in packets:
            end = max(end, float(p.pts * p.time_base) + step)
            p.stream = vout
            out.mux(p)
        if ain is not None:
            inp.seek(0)
            for p in inp.demux(ain):
                if p.pts is None or float(p.pts * p.time_base) >= end:
                    continue
                p.stream = aout
                out.mux(p)
    return end


def source_frames(src: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """`count` frames of `src` resized to `size` (w, h), BGR (OpenCV decoding)."""
    cap = cv2.VideoCapture(str(src))
    frames = []
    for _ in range(count):
        ok, img = cap.read()
        assert ok
        frames.append(cv2.resize(img, size))
    cap.release()
    return frames


def write_timed_clip(path: Path, images: list[np.ndarray], times: list[float], rotation: int | None = None) -> None:
    """H.264 clip whose frames have exactly the presentation `times` (seconds); `rotation`:
    display matrix, degrees counter-clockwise."""
    h, w = images[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"bf": "0", "preset": "ultrafast", "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = TB
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for img, t in zip(images, times):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = round(t / TB), TB
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def presentation_times(path: Path) -> list[float]:
    """Every video frame's presentation time (seconds), decoded by PyAV."""
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


def decoded_images(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def stream_ends(path: Path) -> dict[str, float]:
    """Per stream type: end of its last packet (pts + duration) in seconds."""
    ends: dict[str, float] = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.pts is not None:
                end = float((p.pts + (p.duration or 0)) * p.time_base)
                ends[p.stream.type] = max(ends.get(p.stream.type, 0.0), end)
    return ends


def describe(path: Path) -> dict:
    """{type: (codec name, width, height, pix_fmt)} per stream."""
    with av.open(str(path)) as c:
        return {s.type: (s.codec_context.name, getattr(s.codec_context, "width", None),
                         getattr(s.codec_context, "height", None), getattr(s.codec_context, "pix_fmt", None))
                for s in c.streams}
