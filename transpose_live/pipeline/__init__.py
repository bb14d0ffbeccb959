"""The live pipeline: sources -> person detector -> PoseEstimator -> tracker -> renderer -> writers.

`run_pipeline` is the one entry point used by `webcam`, `video`, `image`, `batch` and `bench --pipeline`;
`chain.build_chain(cfg)` builds its detector, estimator and tracker from a `RunConfig`.
"""

from transpose_live.pipeline.detector import PersonDetector, WholeFrameDetector, build_detector
from transpose_live.pipeline.runner import STAGES, EndOfOutput, PipelineOptions, PipelineResult, Tracker, run_pipeline
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
from transpose_live.pipeline.writers import (
    CallbackWriter,
    CocoResultsWriter,
    ImageDirWriter,
    JsonlWriter,
    VideoWriter,
    Writer,
)

__all__ = [
    "STAGES", "CallbackWriter", "EndOfOutput", "PipelineOptions", "CameraSource", "CocoResultsWriter", "Frame", "ImageDirWriter", "ImageSource",
    "JsonlWriter", "LiveFileSource", "PersonDetector", "PipelineResult", "Tracker", "VideoFileSource", "VideoWriter",
    "WholeFrameDetector", "Writer", "build_detector", "open_camera", "open_video", "run_pipeline", "to_bgr",
]
