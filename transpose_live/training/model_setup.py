"""The model to train: architecture for a keypoint count and crop size, its start weights
(`--init official|random|PATH`, every fitting tensor transferred), frozen parts, dropout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from transpose_live.errors import UserError

# Top-level modules that are not the CNN backbone, per family (everything else is frozen by --freeze-backbone).
HEAD_MODULES = {
    "transpose_r": ("reduce", "pos_embedding", "global_encoder", "deconv_layers", "final_layer"),
    "transpose_h": ("reduce", "pos_embedding", "global_encoder", "final_layer"),
    "hrnet": ("final_layer",),
    "simplebaseline": ("deconv_layers", "final_layer"),
}
# Input sizes must divide by the deepest stride of the family's feature maps.
SIZE_MULTIPLE = {"transpose_r": 8, "transpose_h": 16, "hrnet": 32, "simplebaseline": 32}
MIN_FIT_FRACTION = 0.5  # an --init checkpoint must fill at least this share of the model's tensors


@dataclass
class TransferReport:
    kept: int
    total: int
    reinitialised: list[str]
    source: str

    def line(self) -> str:
        if self.source == "random":
            return f"init: random ({self.total} tensors)"
        text = f"init: {self.source}: kept {self.kept}/{self.total} tensors"
        if self.reinitialised:
            shown = ", ".join(self.reinitialised[:4]) + (" ..." if len(self.reinitialised) > 4 else "")
            text += f"; re-initialised {len(self.reinitialised)} ({shown})"
        return text


def check_input_size(name: str, input_size: tuple[int, int]) -> None:
    from transpose_live.models import model_info

    family = model_info(name).family
    mult = SIZE_MULTIPLE[family]
    if input_size[0] % mult or input_size[1] % mult or min(input_size) < mult:
        raise UserError(f"--input-size {input_size[0]}x{input_size[1]} does not suit {name}: "
                        f"height and width must be multiples of {mult}")


def init_state(init: str) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The state_dict to start from (None for random) and a short name of where it came from."""
    from transpose_live.models.checkpoint import read_checkpoint

    value = (init or "random").strip()
    if value.lower() in ("random", "none"):
        return None, "random"
    return read_checkpoint(Path(value)), Path(value).name


def transfer_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> TransferReport:
    """Copies every tensor of `state` whose name and shape fit; the rest keeps its fresh init."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    total = len(own)
    if len(fits) < MIN_FIT_FRACTION * total:
        raise UserError(f"--init {source} does not fit this model: only {len(fits)} of {total} tensors match "
                        "by name and shape; use the --model it was trained as")
    own.update(fits)
    model.load_state_dict(own)
    missed = [k for k in own if k not in fits and not k.endswith("num_batches_tracked")]
    return TransferReport(len(fits), total, missed, source)


def make_model(name: str, num_keypoints: int = 17, input_size: tuple[int, int] | None = None) -> nn.Module:
    """Registry architecture `name` with `num_keypoints` output maps for crops of input_size (H, W); random init.

    The one place training creates architectures (through `models.factory.create_model`)."""
    from transpose_live.models import create_model, model_info

    spec = model_info(name)
    if input_size is not None:
        spec = spec.resized(input_size)
    return create_model(spec, num_keypoints=num_keypoints)


def official_checkpoint(name: str) -> Path:
    """Path of the official checkpoint of `name` (local folder, cache, else download)."""
    from transpose_live.models import model_info
    from transpose_live.models.download import download_official

    return download_official(model_info(name))


def build_training_model(name: str, num_keypoints: int, input_size: tuple[int, int], init: str,
                         dropout: float | None = None) -> tuple[nn.Module, TransferReport]:
    check_input_size(name, input_size)
    model = make_model(name, num_keypoints, input_size)
    if str(init).strip().lower() == "official":
        path = official_checkpoint(name)
        state, source = init_state(str(path))
        source = f"official {path.name}"
    else:
        state, source = init_state(init)
    if state is None:
        report = TransferReport(0, len(model.state_dict()), [], "random")
    else:
        state = {k: v for k, v in state.items() if k != "pos_embedding"} if _pos_differs(model, state) else state
        report = transfer_weights(model, state, source)
    if dropout is not None:
        set_dropout(model, dropout)
    return model, report


def _pos_differs(model: nn.Module, state: dict) -> bool:
    """The fixed sine position embedding is rebuilt for the crop size; never copied across sizes."""
    own = model.state_dict().get("pos_embedding")
    return own is not None and "pos_embedding" in state and state["pos_embedding"].shape != own.shape


def set_dropout(model: nn.Module, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise UserError(f"--dropout must be in [0, 1), got {p}")
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = float(p)


def backbone_parameters(model: nn.Module, family: str) -> list[str]:
    """Names of the parameters of the CNN backbone (not reduce/encoder/head)."""
    heads = HEAD_MODULES[family]
    return [n for n, _ in model.named_parameters() if n.split(".")[0] not in heads]


def freeze_backbone(model: nn.Module, family: str) -> int:
    """requires_grad False on the backbone; returns how many parameters were frozen."""
    names = set(backbone_parameters(model, family))
    for n, p in model.named_parameters():
        if n in names:
            p.requires_grad_(False)
    return len(names)


def set_train_mode(model: nn.Module, frozen_bn: bool, family: str, backbone_frozen: bool) -> None:
    """model.train(), with BatchNorm kept in eval mode where frozen (all of them, or the backbone's)."""
    model.train()
    heads = HEAD_MODULES[family]
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if frozen_bn or (backbone_frozen and name.split(".")[0] not in heads):
                m.eval()
