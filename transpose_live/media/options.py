"""What a rendered video is encoded as: codec, quality, sound; which containers hold which codecs."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from transpose_live.errors import UserError


@dataclass(frozen=True)
class Codec:
    """One `--codec` choice. `crf` is the default quality (for mp4v: the MPEG-4 quantiser);
    `time_base` is the finest tick the encoder accepts (frame times are rounded to it)."""

    name: str
    encoder: str
    crf: int
    crf_range: tuple[int, int]
    options: dict
    time_base: Fraction = Fraction(1, 90000)
    tag: str | None = None


# No B-frames: with variable frame rates (live recordings, phone clips) B-frame reordering makes
# the MP4 muxer compute a track shorter than the frames' presentation times.
CODECS: dict[str, Codec] = {
    "h264": Codec("h264", "libx264", 23, (0, 51), {"preset": "veryfast", "bf": "0"}),
    "hevc": Codec("hevc", "libx265", 28, (0, 51), {"preset": "veryfast", "x265-params": "bframes=0:log-level=error"},
                  tag="hvc1"),
    "vp9": Codec("vp9", "libvpx-vp9", 32, (0, 63), {"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}),
    "mp4v": Codec("mp4v", "mpeg4", 4, (1, 31), {}, time_base=Fraction(1, 60000)),
}

# Container (by file suffix) -> FFmpeg format name, the codecs it holds, audio it can take as is,
# and the audio encoder used otherwise.
CONTAINERS: dict[str, tuple[str, tuple[str, ...], frozenset, str]] = {
    ".mp4": ("mp4", ("h264", "hevc", "vp9", "mp4v"),
             frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}), "aac"),
    ".m4v": ("mp4", ("h264", "hevc", "mp4v"), frozenset({"aac", "mp3", "ac3", "eac3", "alac"}), "aac"),
    ".mov": ("mov", ("h264", "hevc", "mp4v"), frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le"}), "aac"),
    ".mkv": ("matroska", ("h264", "hevc", "vp9", "mp4v"), frozenset({"*"}), "aac"),
    ".webm": ("webm", ("vp9",), frozenset({"opus", "vorbis"}), "libopus"),
    ".avi": ("avi", ("h264", "mp4v"), frozenset({"mp3", "ac3", "aac", "pcm_s16le"}), "aac"),
}


@dataclass(frozen=True)
class EncodeOptions:
    """`--codec`, `--crf` (None: the codec's default) and whether the input's sound is kept."""

    codec: str = "h264"
    crf: int | None = None
    audio: bool = True

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise UserError(f"unknown --codec {self.codec!r}; use {', '.join(CODECS)}")
        low, high = CODECS[self.codec].crf_range
        if self.crf is not None and not low <= self.crf <= high:
            raise UserError(f"--crf {self.crf} is out of range for {self.codec}; use {low}..{high}")

    @property
    def spec(self) -> Codec:
        return CODECS[self.codec]

    @property
    def quality(self) -> int:
        return self.spec.crf if self.crf is None else int(self.crf)


@dataclass(frozen=True)
class AudioTrack:
    """The sound of an input file to carry into a rendered video: `stream_index` in `path`, and
    `origin` (seconds, the input's clock) that becomes time 0 of the output."""

    path: str
    stream_index: int
    codec: str
    origin: float = 0.0


def container_for(path: str | Path) -> tuple[str, tuple[str, ...], frozenset, str]:
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise UserError(f"cannot write video {path}: unknown file type {suffix or '(none)'}; "
                        f"use {', '.join(CONTAINERS)}")
    return CONTAINERS[suffix]


def check_video_output(path: str | Path, options: EncodeOptions | None = None) -> None:
    """UserError when the file type cannot hold the chosen codec (checked before any work)."""
    options = options or EncodeOptions()
    _fmt, codecs, _copy, _enc = container_for(path)
    if options.codec not in codecs:
        raise UserError(f"a {Path(path).suffix} file cannot hold {options.codec} video; "
                        f"use --codec {' or '.join(codecs)} or another file type")
