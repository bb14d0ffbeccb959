"""Pose-model runtimes other than torch (onnxruntime, OpenVINO) and `transpose-live export`.

A runner is a callable (crops (N, 3, H, W) float tensor) -> heatmaps (N, J, h, w) float32 tensor;
`PoseEstimator(..., backend=...)` calls it in place of the torch module (crops and decoding stay torch).
"""

from transpose_live.backends.export import FORMATS, export_model
from transpose_live.backends.metadata import ExportMetadata, read_metadata
from transpose_live.backends.choose import BACKENDS, choose_backend, is_exported, open_runner

__all__ = ["BACKENDS", "FORMATS", "ExportMetadata", "choose_backend", "export_model", "is_exported", "open_runner",
           "read_metadata"]
