"""The frame stream: sources -> person detector -> PoseEstimator -> tracker -> renderer -> sinks.

`stream.run_stream` is the one loop behind `video`, `image`, `webcam` (1..N cameras), `batch` workers and
`bench --pipeline`; `run_pipeline` runs one source through it. `transpose_live.chain.build_chain(cfg)`
(above this package) builds its detector, estimator, trackers and overlay from a `RunConfig`.
"""

from transpose_live.pipeline.detector import PersonDetector, WholeFrameDetector, build_detector
from transpose_live.pipeline.runner import (
    STAGES,
    EndOfOutput,
    PipelineOptions,
    PipelineResult,
    SourceReport,
    Tracker,
)
from transpose_live.pipeline.sinks import Outputs, open_writers
from transpose_live.pipeline.sources import (
    Frame,
    ImageSource,
    LiveFileSource,
    VideoFileSource,
    open_video,
    to_bgr,
)
from transpose_live.pipeline.stream import StreamInput, Tick, TickItem, TickSink, run_pipeline, run_stream
from transpose_live.pipeline.stream_source import ReconnectPolicy, SourceEvent, StreamSource, open_camera
from transpose_live.pipeline.writers import (
    CallbackWriter,
    CocoResultsWriter,
    ImageDirWriter,
    JsonlWriter,
    VideoWriter,
    Writer,
)

__all__ = [
    "STAGES", "CallbackWriter", "EndOfOutput", "PipelineOptions", "CocoResultsWriter", "Frame", "ImageDirWriter",
    "ImageSource", "JsonlWriter", "LiveFileSource", "Outputs", "PersonDetector", "PipelineResult", "SourceReport",
    "StreamInput", "Tick", "TickItem", "TickSink", "Tracker", "VideoFileSource", "VideoWriter", "ReconnectPolicy",
    "SourceEvent", "StreamSource", "WholeFrameDetector", "Writer", "build_detector", "open_camera", "open_video",
    "open_writers", "run_pipeline", "run_stream", "to_bgr",
]
