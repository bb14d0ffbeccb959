"""The small JSON file written beside an exported pose model (what it is and where it came from)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from transpose_live.errors import UserError
from transpose_live.paths import file_sha256

__all__ = ["ExportMetadata", "file_sha256", "metadata_path", "read_metadata"]

METADATA_VERSION = 1
OPENVINO_XML = "model.xml"
FOLDER_METADATA = "metadata.json"


@dataclass(frozen=True)
class ExportMetadata:
    model: str
    format: str  # "onnx" | "openvino"
    precision: str  # "fp32" | "fp16" (fp16 weights) | "bf16" (f32 IR for bf16 CPUs) | "int8" (NNCF-quantised)
    input_size: tuple[int, int]  # H, W of the crops
    heatmap_size: tuple[int, int]  # H, W of the heatmaps
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    weights: str  # the source weights as given (path, 'official' or 'random')
    weights_sha256: str | None  # sha256 of the source checkpoint file (None for random weights)
    input_name: str = "crops"
    output_name: str = "heatmaps"
    skeleton: tuple[tuple[int, int], ...] = ()  # 0-based joint pairs the renderer draws
    version: int = METADATA_VERSION
    calibration: dict | None = None  # int8: what the calibration crops came from (source, frames, crops)
    verify: dict | None = None  # `export --verify`: AP before/after and keypoint drift against fp32

    def to_json(self) -> str:
        items = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in asdict(self).items()]
        return "{\n" + ",\n".join(items) + "\n}\n"

    @classmethod
    def from_dict(cls, d: dict) -> "ExportMetadata":
        try:
            return cls(
                model=str(d["model"]), format=str(d["format"]), precision=str(d.get("precision", "fp32")),
                input_size=tuple(d["input_size"]), heatmap_size=tuple(d["heatmap_size"]),
                keypoints=tuple(d["keypoints"]), flip_pairs=tuple(tuple(p) for p in d["flip_pairs"]),
                weights=str(d.get("weights", "")), weights_sha256=d.get("weights_sha256"),
                input_name=str(d.get("input_name", "crops")), output_name=str(d.get("output_name", "heatmaps")),
                skeleton=tuple(tuple(p) for p in d.get("skeleton", ())),
                version=int(d.get("version", METADATA_VERSION)),
                calibration=d.get("calibration"), verify=d.get("verify"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"export metadata is incomplete ({exc}); re-export with `transpose-live export`") from None


def metadata_path(model_path: str | Path) -> Path:
    """model.onnx -> model.json beside it; an OpenVINO folder -> folder/metadata.json."""
    p = Path(model_path)
    if p.is_dir():
        return p / FOLDER_METADATA
    if p.suffix == ".xml":
        return p.parent / FOLDER_METADATA
    return p.with_suffix(".json")


def read_metadata(model_path: str | Path) -> ExportMetadata:
    path = metadata_path(model_path)
    if not path.is_file():
        raise UserError(f"{model_path} has no metadata file {path.name} beside it; export it with "
                        f"`transpose-live export MODEL --weights W --format onnx|openvino`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read export metadata {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"export metadata {path} is not a JSON object")
    return ExportMetadata.from_dict(data)
