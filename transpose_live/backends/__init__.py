"""Pose-model runtimes other than torch (onnxruntime, OpenVINO) and `transpose-live export`.

A runner is a callable (crops (N, 3, H, W) float tensor) -> heatmaps (N, J, h, w) float32 tensor;
`PoseEstimator(..., backend=...)` calls it in place of the torch module (crops and decoding stay torch).
"""

from transpose_live.backends.export import FORMATS, export_model
from transpose_live.backends.metadata import ExportMetadata, read_metadata
from transpose_live.backends.choose import BACKENDS, Runtime, choose_backend, choose_runtime, is_exported, open_runner

__all__ = ["BACKENDS", "FORMATS", "ExportMetadata", "Runtime", "choose_backend", "choose_runtime", "export_model",
           "is_exported", "open_runner", "read_metadata"]
