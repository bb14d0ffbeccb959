"""`PoseEstimator`: frame + person boxes -> `Poses`, every tensor on the device from crop to decode.

Per call: boxes -> center/scale -> one batched crop per frame -> model forward in chunks of
`max_batch` images (flipped copies in the same forward) -> flip merge -> decode -> one copy to the CPU.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from transpose_live.backends import Runtime, choose_runtime, open_runner
from transpose_live.config import RunConfig
from transpose_live.device import resolve_device
from transpose_live.engine.boxes import box_to_center_scale, xyxy_to_xywh
from transpose_live.engine.crops import HostStaging, crop_frame, frame_to_tensor, sampled_region
from transpose_live.engine.decode import DECODERS, argmax_coords, decode
from transpose_live.engine.flip import merge_flipped, with_flipped
from transpose_live.engine.fold_bn import fold_batchnorm
from transpose_live.engine.precision import DTYPES
from transpose_live.errors import UserError
from transpose_live.keypoints import COCO17, KeypointSet
from transpose_live.models import load_model
from transpose_live.models.encoder import attention_weights_bytes
from transpose_live.models.registry import ModelSpec, model_info, transpose_models
from transpose_live.poses import Poses
from transpose_live.runtime import runtime_threads

ATTENTION_BYTES_PER_CHUNK = 1 << 30  # cap on the (B, heads, L, L) attention weights one forward may materialise


class PoseEstimator:
    """Top-down pose estimation for many people at once (TransPose inference protocol, spec section 2).

    max_batch is the most images in one forward pass (flipped copies count); on CUDA out-of-memory
    the chunk is halved and retried, and the smaller size is kept for later calls.
    precision: any spelling `device.parse_precision` takes (auto|fp32|bf16|fp16|int8, float16, "half",
    torch.float16, ...); None or "auto": fp16 on CUDA, on the CPU fp32 on torch and the CPU's own on
    OpenVINO. It is resolved once (`backends.choose_runtime`); `from_runtime` takes a resolved `Runtime`
    as given (`chain.build_estimator`). Half precision on the torch CPU path is refused
    (`engine.precision.cpu_half_allowed()` lifts that for tests); OpenVINO runs bf16/fp16/int8 on the CPU.
    """

    def __init__(self, model: str | None = None, weights=None, device="auto", precision=None,
                 flip_test: bool = True, decoder: str = RunConfig.decoder, max_batch: int = 64, compile: bool = False,
                 channels_last: bool | None = None, backend: str | None = None) -> None:
        """model: a registry name; None takes the one the weights name (a `train` checkpoint or an
        export), else `models.DEFAULT_MODEL`. The keypoint set (`self.keypoints`) and crop size come
        from the weights too: COCO-17 for official checkpoints, the trained set otherwise.
        backend: None = torch for checkpoints, the file's own runtime for exported models (.onnx,
        OpenVINO); what runs is in `self.runtime` / `self.precision`."""
        if model is not None:
            model_info(model)  # an unknown name is one line before any file is read
        self._build(choose_runtime(device, backend, precision, weights), model, weights,
                    (flip_test, decoder, max_batch, compile, channels_last))

    @classmethod
    def from_runtime(cls, runtime: Runtime, model: str | None = None, weights=None, *, flip_test: bool = True,
                     decoder: str = RunConfig.decoder, max_batch: int = 64) -> "PoseEstimator":
        """The estimator of an already resolved `Runtime` (device, backend, precision taken as given)."""
        if model is not None:
            model_info(model)
        self = cls.__new__(cls)
        self._build(runtime, model, weights, (flip_test, decoder, max_batch, False, None))
        return self

    def _build(self, runtime: Runtime, model, weights, options: tuple) -> None:
        flip_test, decoder, max_batch, compile, channels_last = options
        self.runtime = runtime
        self.backend = runtime.backend
        if self.backend != "torch":  # crops and decoding stay torch; the runner maps crops -> heatmaps
            runner, spec, keypoints = open_runner(model, weights, self.backend, runtime_threads(), runtime.precision)
            self._setup(None, spec, "cpu", "fp32", flip_test, decoder, max_batch, False, False, keypoints)
            self._forward = runner
            self.precision = runner.precision
            return
        loaded = load_model(model, weights=weights, device="cpu")  # BatchNorm is folded on the CPU, then moved once
        self._setup(loaded.module, loaded.spec, runtime.device, runtime.precision, flip_test, decoder,
                    max_batch, compile, channels_last, loaded.keypoints)

    @classmethod
    def from_module(cls, module: nn.Module, name, device="cpu", precision=None,
                    flip_test: bool = True, decoder: str = RunConfig.decoder, max_batch: int = 64, compile: bool = False,
                    channels_last: bool | None = None, keypoints: KeypointSet = COCO17) -> "PoseEstimator":
        """Wrap an already-built model of registry name `name` (the module is moved/cast in place), on torch.

        name may also be a `ModelSpec` (e.g. a trained model's spec with its own input size);
        keypoints: what its heatmap channels are (COCO-17 unless trained otherwise).
        """
        self = cls.__new__(cls)
        spec = name if isinstance(name, ModelSpec) else model_info(name)
        self.runtime = choose_runtime(device, "torch", precision)
        self._setup(module, spec, self.runtime.device, self.runtime.precision, flip_test, decoder, max_batch,
                    compile, channels_last, keypoints)
        return self

    def _setup(self, module, spec: ModelSpec, device, precision: str, flip_test, decoder, max_batch, compile,
               channels_last, keypoints: KeypointSet = COCO17):
        if decoder not in DECODERS:
            raise UserError(f"unknown decoder {decoder!r}; use one of: {', '.join(DECODERS)}")
        if int(max_batch) < 1:
            raise UserError(f"max_batch must be at least 1, got {max_batch}")
        self.spec = spec
        self.keypoints = keypoints
        self._flip_permutation = tuple(keypoints.flip_permutation())
        self.device = resolve_device(device)
        self.precision = precision
        self.half = precision != "fp32"
        self.dtype = DTYPES[precision]
        self.flip_test = bool(flip_test)
        self.decoder = decoder
        self.max_batch = int(max_batch)
        # frames and boxes go to a GPU from pinned host buffers (an asynchronous copy); no staging on the CPU
        self._staging = HostStaging(pin=True) if self.device.type == "cuda" else None
        # channels-last wins on CUDA and on the CPU (tp_r_a3 folded, 2 cores, quiet: 79.5 vs 98.1 ms per crop at
        # batch 1, 71.8 vs 92.2 at batch 3; benchmarks/results/backends-cpu-quiet.md)
        self.channels_last = True if channels_last is None else bool(channels_last)
        # HRNet's evaluation shifts flipped heatmaps by one pixel; TransPose does not (spec 2.3).
        self.shift_flipped = not spec.is_transpose
        self.backend = getattr(self, "backend", "torch")
        if module is None:  # a non-torch backend sets self._forward itself
            self.model = None
            return
        module = inference_module(module, self.device, self.dtype, self.channels_last)
        self.model = module
        self._forward = torch.compile(module) if compile else module

    def __repr__(self) -> str:
        return (f"PoseEstimator({self.spec.name}, backend={self.backend}, device={self.device}, "
                f"precision={self.precision}, "
                f"flip_test={self.flip_test}, decoder={self.decoder!r}, max_batch={self.max_batch})")

    # ------------------------------------------------------------------ public API
    def estimate(self, frame: np.ndarray, boxes_xyxy, box_scores=None, return_attention: bool = False) -> Poses:
        """Poses of the people in `boxes_xyxy` (N, 4) of one BGR frame (grey and BGRA accepted).

        return_attention: also fill `Poses.attention` (N, K, h, w): the last encoder layer's attention
        row of the token under each keypoint's heatmap argmax, from the unflipped crop (TransPose only).
        """
        return self.estimate_batch([frame], [boxes_xyxy], [box_scores], return_attention=return_attention)[0]

    def estimate_batch(self, frames: Sequence[np.ndarray], boxes: Sequence, scores: Sequence | None = None,
                       return_attention: bool = False) -> list[Poses]:
        """`estimate` for several frames, all their people in the same forward passes."""
        if len(frames) != len(boxes):
            raise UserError(f"got {len(frames)} frames but {len(boxes)} box lists")
        scores = [None] * len(frames) if scores is None else list(scores)
        if len(scores) != len(frames):
            raise UserError(f"got {len(frames)} frames but {len(scores)} score lists")
        if return_attention:
            require_attention(self.spec, "attention maps")
            if self.backend != "torch":
                raise UserError(f"attention maps need the torch backend; this estimator runs on {self.backend}")
        box_arrays = [_as_boxes(b) for b in boxes]
        score_arrays = [_as_scores(s, len(b)) for s, b in zip(scores, box_arrays)]
        counts = [len(b) for b in box_arrays]
        total = sum(counts)
        if total == 0:
            return [self._empty(return_attention) for _ in frames]
        keypoints, attention = self._run(frames, box_arrays, counts, return_attention)
        out, start = [], 0
        for n, b, s in zip(counts, box_arrays, score_arrays):
            att = None if attention is None else attention[start:start + n]
            out.append(Poses(keypoints=keypoints[start:start + n], boxes=b, box_scores=s, attention=att))
            start += n
        return out

    def warmup(self, people: int = 1, frame_hw: tuple[int, int] = (480, 640)) -> None:
        """Run a dummy frame: cuDNN (benchmark mode, switched on here for CUDA) and torch.compile pick their
        kernels before timing. cuDNN picks per input shape, so warm up with the batch sizes that follow."""
        if self.device.type == "cuda" and self.backend == "torch":
            torch.backends.cudnn.benchmark = True
        h, w = frame_hw
        frame = np.zeros((h, w, 3), np.uint8)
        boxes = np.tile(np.array([[w * 0.25, h * 0.1, w * 0.75, h * 0.9]], np.float32), (people, 1))
        self.estimate(frame, boxes)

    # ------------------------------------------------------------------ internals
    def _empty(self, return_attention: bool) -> Poses:
        poses = Poses.empty(len(self.keypoints))
        if return_attention:
            gh, gw = self.spec.token_grid
            poses.attention = np.zeros((0, len(self.keypoints), gh, gw), np.float32)
        return poses

    @torch.inference_mode()
    def _run(self, frames, box_arrays, counts, want_attention):
        dev, staging = self.device, self._staging
        boxes = np.concatenate([b for b in box_arrays if len(b)])
        all_boxes = staging.upload(boxes, dev, slot=-1) if staging else torch.from_numpy(boxes).to(dev)
        center, scale = box_to_center_scale(xyxy_to_xywh(all_boxes), self.spec.input_size[1] / self.spec.input_size[0])
        crops, start = [], 0
        for slot, (frame, n) in enumerate(zip(frames, counts)):
            if n:
                sl = slice(start, start + n)
                # on the CPU only the part of the frame the crops read becomes float (on a GPU the upload is
                # the whole uint8 frame, and converting it there costs next to nothing)
                region = sampled_region(center[sl], scale[sl], frame.shape[:2], self.spec.input_size) \
                    if dev.type == "cpu" and isinstance(frame, np.ndarray) and frame.ndim >= 2 else None
                part, origin = (frame, (0, 0)) if region is None else \
                    (frame[region], (region[1].start, region[0].start))
                image = frame_to_tensor(part, dev, staging, slot)
                crops.append(crop_frame(image, center[sl], scale[sl], self.spec.input_size, origin))
                start += n
        crops = torch.cat(crops) if len(crops) > 1 else crops[0]
        heatmaps, attention = self._infer(crops, want_attention)
        coords, maxvals = decode(heatmaps, center, scale, self.decoder)
        keypoints = torch.cat((coords.float(), maxvals[..., None].float()), dim=-1).cpu().numpy()
        return keypoints, None if attention is None else attention.float().cpu().numpy()

    def _people_per_chunk(self, want_attention: bool) -> int:
        per_person = 2 if self.flip_test else 1
        n = max(1, self.max_batch // per_person)
        if want_attention:
            gh, gw = self.spec.token_grid
            heads = int(self.spec.arch.get("heads", 1))
            bytes_per_image = attention_weights_bytes(gh * gw, heads, self.dtype.itemsize)
            n = min(n, max(1, ATTENTION_BYTES_PER_CHUNK // (bytes_per_image * per_person)))
        return n

    def _infer(self, crops: torch.Tensor, want_attention: bool):
        """Normalised crops (N, 3, H, W) -> heatmaps (N, J, h, w) float32 and attention rows or None."""
        crops = crops.to(self.dtype)
        step = self._people_per_chunk(want_attention)
        parts = [self._infer_chunk(crops[i:i + step], want_attention) for i in range(0, len(crops), step)]
        heatmaps = torch.cat([p[0] for p in parts])
        attention = torch.cat([p[1] for p in parts]) if want_attention else None
        return heatmaps, attention

    def _infer_chunk(self, crops: torch.Tensor, want_attention: bool):
        try:
            return self._forward_chunk(crops, want_attention)
        except torch.cuda.OutOfMemoryError:
            if len(crops) <= 1:
                raise
        # Retried here, outside the `except` block: inside it the exception's traceback would keep the
        # failed forward pass's frames, and with them its activations, alive beside every retry.
        if crops.device.type == "cuda":
            torch.cuda.empty_cache()
        half = len(crops) // 2
        self.max_batch = max(1, min(self.max_batch, half * (2 if self.flip_test else 1)))
        a = self._infer_chunk(crops[:half], want_attention)
        b = self._infer_chunk(crops[half:], want_attention)
        return torch.cat((a[0], b[0])), (torch.cat((a[1], b[1])) if want_attention else None)

    def _forward_chunk(self, crops: torch.Tensor, want_attention: bool):
        n = len(crops)
        x = with_flipped(crops) if self.flip_test else crops
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        attn = None
        if want_attention:
            out, attn = self._forward(x, return_attention=True)
        else:
            out = self._forward(x)
        out = out.float()
        heatmaps = merge_flipped(out, self.shift_flipped, self._flip_permutation) if self.flip_test else out
        rows = self._attention_rows(heatmaps, attn[:n]) if want_attention else None
        return heatmaps, rows

    def _attention_rows(self, heatmaps: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """Last-layer attention rows at each keypoint's argmax token: (N, J, gh, gw)."""
        gh, gw = self.spec.token_grid
        hh, hw = heatmaps.shape[-2:]
        coords, _ = argmax_coords(heatmaps)
        tx = torch.div(coords[..., 0].long() * gw, hw, rounding_mode="floor")
        ty = torch.div(coords[..., 1].long() * gh, hh, rounding_mode="floor")
        token = ty * gw + tx  # (N, J)
        rows = attn.gather(1, token[..., None].expand(-1, -1, attn.shape[-1]))
        return rows.reshape(len(heatmaps), heatmaps.shape[1], gh, gw)


def require_attention(spec: ModelSpec, what: str) -> None:
    """UserError unless `spec` is a TransPose model (the only ones with an attention layer)."""
    if not spec.is_transpose:
        raise UserError(f"{what}: {spec.name} is a CNN baseline without attention; use a TransPose model "
                        f"({', '.join(transpose_models())})")


def inference_module(module: nn.Module, device, dtype: torch.dtype, channels_last: bool = True) -> nn.Module:
    """The module as inference runs it: BatchNorm folded into the convolutions (exact in fp32; a copy,
    the caller's module is untouched), on `device` in `dtype`, channels-last memory layout."""
    module = fold_batchnorm(module.eval())
    if _placement(module) != (torch.device(device), dtype):
        module = module.to(device, dtype=dtype)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def _placement(module: nn.Module) -> tuple[torch.device, torch.dtype] | None:
    p = next(module.parameters(), None)
    return None if p is None else (p.device, p.dtype)


def _as_boxes(boxes) -> np.ndarray:
    """Boxes array-like -> (N, 4) float64 xyxy; a clear error for anything else."""
    if boxes is None:
        return np.zeros((0, 4), np.float64)
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UserError(f"boxes must be an (N, 4) array of x1, y1, x2, y2; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UserError("boxes contain NaN or infinite values")
    return arr


def _as_scores(scores, n: int) -> np.ndarray:
    if scores is None:
        return np.ones(n, np.float32)
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().numpy()
    arr = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(arr) != n:
        raise UserError(f"got {n} boxes but {len(arr)} box scores")
    return arr
