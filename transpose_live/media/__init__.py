"""Video files in and out, on PyAV (FFmpeg): decoding with true presentation times and rotation,
H.264/HEVC/VP9/MPEG-4 encoding with the source's sound carried over, atomic output files.

    >>> from transpose_live.media import EncodeOptions, VideoDecoder, VideoEncoder
"""

from transpose_live.media.decoder import VideoDecoder
from transpose_live.media.encoder import VideoEncoder
from transpose_live.media.options import CODECS, AudioTrack, EncodeOptions, check_video_output

__all__ = [
    "CODECS", "AudioTrack", "EncodeOptions", "VideoDecoder", "VideoEncoder", "check_video_output",
]
