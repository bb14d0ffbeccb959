"""Loading checkpoints into a model: official layout, strict matching, readable errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from transpose_live.errors import WeightsError

_LIST_LIMIT = 3  # names listed per kind of difference: the message stays one readable line


def extract_state_dict(obj) -> dict[str, torch.Tensor]:
    """Bare state_dict, or a dict holding it under `state_dict` / `model`; strips `module.`."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError("checkpoint holds no state_dict (expected a dict of tensors, or one under 'state_dict'/'model')")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def _load(path: str | Path):
    path = Path(path)
    if path.is_dir():
        raise WeightsError(_not_a_model_folder(path))
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a file that is not a checkpoint
        raise WeightsError(f"cannot read checkpoint {path}: {_why_unreadable(exc)}") from None


def _not_a_model_folder(path: Path) -> str:
    """Why folder `path` is no weights: what an OpenVINO export folder holds that it lacks, and the
    checkpoints in it, if any, to pass instead."""
    have = sorted(p.name for p in path.iterdir()) if path.exists() else []
    missing = [n for n in ("model.xml", "model.bin") if n not in have]
    held = [n for n in have if n.endswith((".pth", ".pt", ".onnx"))]
    found = f"it holds {_short(held)}: pass one of them" if held else ("it is empty" if not have else
                                                                        f"it holds {_short(have)}")
    return (f"{path} is a folder but not an OpenVINO export: {' and '.join(missing)} missing ({found}); "
            "give a .pth checkpoint, an .onnx file or a folder `transpose-live export --format openvino` wrote")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    return extract_state_dict(_load(path))


def read_checkpoint_with_meta(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(state_dict, meta): `meta` is what `train` stores beside the weights (model, input_size,
    heatmap_size, keypoint_names, skeleton, flip_pairs), None for a plain state_dict (official files)."""
    obj = _load(path)
    meta = obj.get("meta") if isinstance(obj, dict) and isinstance(obj.get("meta"), dict) else None
    return extract_state_dict(obj), meta


def read_training_meta(path: str | Path) -> dict | None:
    """The `meta` of a checkpoint written by `train`, or None (plain state_dict, unreadable, not a file)."""
    try:
        return read_checkpoint_with_meta(path)[1]
    except WeightsError:
        return None


def _why_unreadable(exc: Exception) -> str:
    """What a failed `torch.load(weights_only=True)` says about the file, in one line."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and ("GLOBAL" in text or "allowed global" in text):
        return ("it holds Python objects besides tensors, which are refused for safety; re-save it as a plain "
                "state_dict (torch.save(model.state_dict(), path)) from a source you trust")
    return "it is not a PyTorch checkpoint (empty, truncated or another kind of file); pass a .pth saved by torch.save"


def _short(items: list[str]) -> str:
    more = f" (+{len(items) - _LIST_LIMIT} more)" if len(items) > _LIST_LIMIT else ""
    return ", ".join(items[:_LIST_LIMIT]) + more


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Strict key/shape match; one readable message listing what differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_short(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_short(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} wrongly shaped: {_short(shapes)}")
    if problems:
        raise WeightsError(f"checkpoint does not fit model {name!r}: " + "; ".join(problems))
