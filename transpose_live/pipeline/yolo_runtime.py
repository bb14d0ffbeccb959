"""An exported YOLO model (ultralytics' ONNX file or OpenVINO folder) run on our own runtimes.

`ExportedYolo(path, threads, precision)` opens the file with `backends.runners` (an onnxruntime session
or an OpenVINO compiled model, with the thread budget's `runtime` threads and, on OpenVINO, the pose
model's precision), and `predict(image, conf, iou, max_det, classes)` takes the steps ultralytics'
predictor takes for these exports, written here: letterbox (aspect kept, grey 114 border; a dynamic export
is padded to the next multiple of the stride, a fixed one to its square size), BGR -> RGB, /255, the
network, then per-class NMS (`torchvision.ops.nms`, IoU 0.7 by default) on the boxes whose best class
passes `conf`, boxes (and pose keypoints) scaled back to the frame and clipped. No ultralytics internals
are touched; its own predict is the reference in tests/test_detector_export.py (same people, IoU > 0.99).
The export's facts (task, class names, stride, size, dynamic, keypoint shape) come from the metadata
ultralytics writes into it (ONNX metadata_props, OpenVINO `metadata.yaml`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from transpose_live.errors import UserError

PAD_VALUE = 114
MAX_CANDIDATES = 30000  # boxes into NMS at most (by confidence)
CLASS_OFFSET = 7680  # per-class coordinate offset: boxes of different classes never suppress each other


@dataclass(frozen=True)
class YoloFacts:
    """What an export says about itself."""

    task: str  # "detect" | "pose"
    names: dict  # class index -> name
    stride: int
    imgsz: int  # the (largest) size it was exported for
    dynamic: bool  # any input size (read from the network's input shape)
    kpt_shape: tuple | None  # (17, 3) for pose models


@dataclass
class Detections:
    """One frame's detections: boxes (N, 4) xyxy, scores (N,), classes (N,), keypoints (N, K, 3) or None;
    highest score first."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    keypoints: np.ndarray | None


class ExportedYolo:
    """An ultralytics export on onnxruntime or OpenVINO. precision: fp32, bf16, fp16 (OpenVINO's hint; the
    int8 parts of a quantised IR run int8 whatever it is)."""

    exported = True  # as `YoloModel.exported`: runs on its own CPU runtime

    def __init__(self, path: str | Path, threads: int, precision: str = "fp32", keypoints: bool = True) -> None:
        """keypoints=False: a pose export's keypoint branch is cut off on OpenVINO (`boxes_only`), so the
        network computes only the boxes and scores, the same values; `predict` then gives no keypoints."""
        from transpose_live.backends.runners import OnnxRuntimeRunner, OpenVINORunner
        from transpose_live.pipeline.detector_export import exported_format

        path = Path(str(path)).expanduser()
        self.format = exported_format(path)
        self.keypoints = True
        if self.format == "onnx":
            self.runner = OnnxRuntimeRunner(path, threads)
            raw = self.runner.session.get_modelmeta().custom_metadata_map
        elif self.format == "openvino":
            xml = path if path.suffix == ".xml" else _one(sorted(path.glob("*.xml")), path)
            raw = _yaml(xml.parent / "metadata.yaml")
            told = _facts(raw, path, dynamic=False)  # (the input's shape is read from the network below)
            model = None if keypoints or not told.kpt_shape else boxes_only(xml, 4 + len(told.names))
            self.keypoints = model is None
            self.runner = OpenVINORunner(xml if model is None else model, threads, precision)
        else:
            raise UserError(f"{path} is not an exported YOLO model (.onnx or an OpenVINO folder)")
        self.path, self.threads = path, int(threads)
        self.facts = _facts(raw, path, self._dynamic_input())

    @property
    def precision(self) -> str:
        return self.runner.precision

    @property
    def task(self) -> str:
        """"detect" or "pose" (the export's metadata), as ultralytics' `YOLO.task`."""
        return self.facts.task

    def _dynamic_input(self) -> bool:
        """True when the network takes any input size (ultralytics' `dynamic=True` export)."""
        if self.format == "onnx":
            return not all(isinstance(d, int) for d in self.runner.session.get_inputs()[0].shape[2:])
        return self.runner.compiled.input(0).get_partial_shape().is_dynamic

    def runtime_threads(self) -> int:
        """The intra-op threads the runtime was opened with, read back from it."""
        if self.format == "onnx":
            return self.runner.session.get_session_options().intra_op_num_threads
        return int(self.runner.compiled.get_property("INFERENCE_NUM_THREADS"))

    def predict(self, image: np.ndarray, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                classes=None, imgsz: int | None = None) -> Detections:
        """Detections in one BGR uint8 frame; `imgsz` may only differ from the export's for a dynamic one."""
        size = self.facts.imgsz if imgsz is None or not self.facts.dynamic else int(imgsz)
        x, gain, pad = letterbox(image, size, self.facts.stride, auto=self.facts.dynamic)
        out = self.runner(torch.from_numpy(x))
        return postprocess(out, self.facts, image.shape[:2], (gain, pad), (conf, iou, max_det, classes),
                           keypoints=self.keypoints)


def boxes_only(xml: Path, rows: int):
    """The OpenVINO model of a pose export with only its first `rows` output rows (4 box + class scores):
    the output Concat is rebuilt from the inputs that make those rows, so the keypoint branch feeds nothing
    and OpenVINO compiles it away (about 14% of YOLO11n-pose's time per call; boxes and scores unchanged).
    None when the network does not end that way (then the whole model runs)."""
    import openvino as ov

    from transpose_live.backends.openvino_core import openvino_core

    model = openvino_core().read_model(str(xml))
    if len(model.outputs) != 1:
        return None
    concat = model.output(0).get_node().input_value(0).get_node()
    if concat.get_type_name() != "Concat" or concat.get_attributes().get("axis") not in (1, -2):
        return None
    keep, total = [], 0
    for value in concat.input_values():
        size = value.get_partial_shape()[1]
        if total >= rows or not size.is_static:
            break
        keep.append(value)
        total += size.get_length()
    if total != rows or len(keep) == concat.get_input_size():
        return None
    head = ov.opset13.concat(keep, axis=1).output(0) if len(keep) > 1 else keep[0]
    return ov.Model([head], model.get_parameters(), model.friendly_name)


def letterbox(image: np.ndarray, size: int, stride: int, auto: bool) -> tuple[np.ndarray, float, tuple]:
    """BGR frame -> (1, 3, H, W) float32 RGB in [0, 1], the scale `gain` and the (left, top) padding."""
    h, w = image.shape[:2]
    gain = min(size / h, size / w)
    new_w, new_h = max(round(w * gain), 1), max(round(h * gain), 1)
    pad_w, pad_h = size - new_w, size - new_h
    if auto:  # the smallest stride multiple that holds the resized frame
        pad_w, pad_h = pad_w % stride, pad_h % stride
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_h / 2 - 0.1), round(pad_h / 2 + 0.1)
    left, right = round(pad_w / 2 - 0.1), round(pad_w / 2 + 0.1)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    x = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
    return x, gain, (left, top)


def postprocess(out: torch.Tensor, facts: YoloFacts, frame_hw, scaling, options, keypoints: bool = True) -> Detections:
    """Network output (1, 4 + classes [+ keypoints], anchors) -> NMS'd detections in frame pixels.
    keypoints=False: a pose export cut to its boxes (`boxes_only`): no keypoint rows, none returned."""
    from torchvision.ops import nms

    conf, iou, max_det, classes = options
    nc = len(facts.names)
    nk = int(np.prod(facts.kpt_shape)) if facts.kpt_shape and keypoints else 0
    if out.ndim != 3 or out.shape[1] != 4 + nc + nk:
        raise UserError(f"unexpected output {tuple(out.shape)} of the exported detector (ultralytics end-to-end "
                        "models are not read here); use --detector-backend torch")
    raw = out[0].float()  # (4 + nc + nk, anchors): reduced along rows, the few candidates transposed
    score, cls = raw[4:4 + nc].max(0) if nc > 1 else (raw[4], torch.zeros(raw.shape[1], dtype=torch.long))
    keep = score > conf
    if classes is not None:
        keep &= torch.isin(cls, torch.as_tensor(list(classes), dtype=cls.dtype))
    pred, score, cls = raw[:, keep].T, score[keep], cls[keep]
    order = score.argsort(descending=True)[:MAX_CANDIDATES]
    pred, score, cls = pred[order], score[order], cls[order]
    xy, wh = pred[:, :2], pred[:, 2:4]
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)
    kept = nms(boxes + cls[:, None].float() * CLASS_OFFSET, score, iou)[:max_det]
    boxes, score, cls = boxes[kept], score[kept], cls[kept]
    gain, (left, top) = scaling
    h, w = frame_hw
    shift = torch.tensor([left, top, left, top], dtype=boxes.dtype)
    boxes = (boxes - shift) / gain
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    keypoints = None
    if nk:
        k = pred[kept, 4 + nc:].reshape(len(kept), *facts.kpt_shape).clone()
        k[..., 0] = ((k[..., 0] - left) / gain).clamp(0, w)
        k[..., 1] = ((k[..., 1] - top) / gain).clamp(0, h)
        keypoints = k.numpy().astype(np.float32)
    return Detections(boxes.numpy().astype(np.float32), score.numpy().astype(np.float32), cls.numpy(), keypoints)


def _facts(raw: dict, path: Path, dynamic: bool) -> YoloFacts:
    """The export's metadata (strings in ONNX, YAML values in OpenVINO) as `YoloFacts`."""
    def value(key, default=None):
        v = raw.get(key, default)
        if isinstance(v, str) and key != "task":
            try:
                return ast.literal_eval(v)
            except (ValueError, SyntaxError):
                return v
        return v

    names, imgsz = value("names"), value("imgsz")
    if not isinstance(names, dict) or imgsz is None:
        raise UserError(f"{path} has no ultralytics metadata (class names, input size); export it with ultralytics "
                        "(`yolo export`) or pass .pt weights")
    kpt = value("kpt_shape")
    size = int(max(imgsz)) if isinstance(imgsz, (list, tuple)) else int(imgsz)
    return YoloFacts(str(raw.get("task", "detect")), {int(k): v for k, v in names.items()}, int(value("stride", 32)),
                     size, bool(dynamic), tuple(kpt) if kpt else None)


def _yaml(path: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except OSError:
        return {}


def _one(found: list, folder: Path) -> Path:
    if not found:
        raise UserError(f"no OpenVINO .xml model in {folder}")
    return found[0]
