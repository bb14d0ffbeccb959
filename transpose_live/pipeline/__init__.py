"""The live pipeline: sources -> person detector -> PoseEstimator -> tracker -> renderer -> writers.

`run_pipeline` is the one entry point used by `webcam`, `video`, `image` and `bench --pipeline`.
"""

from transpose_live.pipeline.detector import PersonDetector, WholeFrameDetector, build_detector
from transpose_live.pipeline.runner import STAGES, PipelineResult, make_tracker, run_pipeline
from transpose_live.pipeline.sources import (
    CameraSource,
    Frame,
    ImageSource,
    LiveFileSource,
    VideoFileSource,
    open_camera,
    open_video,
    to_bgr,
)

__all__ = [
    "STAGES", "CameraSource", "Frame", "ImageSource", "LiveFileSource", "PersonDetector", "PipelineResult",
    "VideoFileSource", "WholeFrameDetector", "build_detector", "make_tracker", "open_camera", "open_video",
    "run_pipeline", "to_bgr",
]
