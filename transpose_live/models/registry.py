"""The model registry: every model's architecture config and official-weights metadata, and the one
lookup by name (`model_info`). It imports nothing else from the package, so every layer can use it.

Numbers (params, GFLOPs, paper AP) are the published values restated in the TransPose paper;
GFLOPs count multiply-accumulates. sha256 is None where the project has never seen the official
file: the first download records the hash it got (see `transpose_live.models.download`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

TRANSPOSE_HUB = "https://github.com/yangsenius/TransPose/releases/download/Hub/"
HRNET_MODEL_ZOO = "https://github.com/leoxiaobin/deep-high-resolution-net.pytorch#main-results"
DEFAULT_MODEL = "tp_r_a4"  # when neither --model nor a training checkpoint names one
ATTENTION_IMPLS = ("fused", "reference")  # SDPA without the matrix / softmax(QK^T) materialised as the reference


@dataclass(frozen=True)
class PaperAP:
    val_det: float | None = None  # COCO val2017, detector boxes (human AP 56.4)
    val_gt: float | None = None  # COCO val2017, ground-truth boxes
    test_dev: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "transpose_r" | "transpose_h" | "hrnet" | "simplebaseline"
    arch: dict
    checkpoint: str  # official file name
    url: str | None  # direct download URL; None where the authors only publish a drive folder
    sha256: str | None
    params: int  # exact count of all nn.Parameters (pos_embedding included)
    gflops: float  # published, multiply-accumulates
    paper_ap: PaperAP
    fps_2080ti: float | None = None
    input_size: tuple[int, int] = (256, 192)  # H, W
    heatmap_size: tuple[int, int] = (64, 48)  # H, W
    manual_download: str | None = None  # where to get the file by hand when url is None
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_transpose(self) -> bool:
        return self.family.startswith("transpose")

    def resized(self, input_size, heatmap_size=None) -> "ModelSpec":
        """This spec for crops of `input_size` (H, W) (and heatmaps of `heatmap_size` when given): a model
        trained or exported at another size."""
        changes = {"input_size": tuple(int(v) for v in input_size)}
        if heatmap_size is not None:
            changes["heatmap_size"] = tuple(int(v) for v in heatmap_size)
        return replace(self, **changes)

    @property
    def token_grid(self) -> tuple[int, int] | None:
        """(h, w) of the encoder's token grid for TransPose models."""
        if self.family == "transpose_r":
            return (self.input_size[0] // 8, self.input_size[1] // 8)
        if self.family == "transpose_h":
            return (self.input_size[0] // 4, self.input_size[1] // 4)
        return None


def _tp_r(name, layers, ckpt, params, gflops, ap, fps):
    return ModelSpec(
        name=name, family="transpose_r",
        arch=dict(d_model=256, ffn=1024, heads=8, layers=layers),
        checkpoint=ckpt, url=TRANSPOSE_HUB + ckpt, sha256=None, params=params, gflops=gflops,
        paper_ap=ap, fps_2080ti=fps,
        description=f"TransPose-R-A{layers}: ResNet-S + {layers}-layer encoder (d256, 8 heads)",
    )


def _tp_h(name, width, d, ffn, layers, ckpt, params, gflops, ap, fps):
    return ModelSpec(
        name=name, family="transpose_h",
        arch=dict(width=width, d_model=d, ffn=ffn, heads=1, layers=layers),
        checkpoint=ckpt, url=TRANSPOSE_HUB + ckpt, sha256=None, params=params, gflops=gflops,
        paper_ap=ap, fps_2080ti=fps,
        description=f"TransPose-H: HRNet-S-W{width} + {layers}-layer encoder (d{d}, 1 head)",
    )


def _baseline(name, family, arch, ckpt, params, gflops, ap_det, description):
    return ModelSpec(
        name=name, family=family, arch=arch, checkpoint=ckpt, url=None, sha256=None,
        params=params, gflops=gflops, paper_ap=PaperAP(val_det=ap_det),
        manual_download=HRNET_MODEL_ZOO, description=description,
    )


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _tp_r("tp_r_a3", 3, "tp_r_256x192_enc3_d256_h1024_mh8.pth", 5_195_345, 8.0,
              PaperAP(71.7, 73.8), 141),
        _tp_r("tp_r_a4", 4, "tp_r_256x192_enc4_d256_h1024_mh8.pth", 5_985_105, 8.9,
              PaperAP(72.6, 75.1), 138),
        _tp_h("tp_h_s", 32, 64, 128, 4, "tp_h_32_256x192_enc4_d64_h128_mh1.pth", 8_019_281, 10.2,
              PaperAP(74.2, 76.1, 73.4), 45),
        _tp_h("tp_h_a4", 48, 96, 192, 4, "tp_h_48_256x192_enc4_d96_h192_mh1.pth", 17_306_129, 17.5,
              PaperAP(75.3, 77.5, 74.7), 41),
        _tp_h("tp_h_a6", 48, 96, 192, 6, "tp_h_48_256x192_enc6_d96_h192_mh1.pth", 17_455_697, 21.8,
              PaperAP(75.8, 78.1, 75.0), 38),
        _baseline("hrnet_w32", "hrnet", dict(width=32), "pose_hrnet_w32_256x192.pth",
                  28_536_113, 7.1, 74.4, "HRNet-W32 (4 stages)"),
        _baseline("hrnet_w48", "hrnet", dict(width=48), "pose_hrnet_w48_256x192.pth",
                  63_595_745, 14.6, 75.1, "HRNet-W48 (4 stages)"),
        _baseline("simplebaseline_r50", "simplebaseline", dict(depth=50),
                  "pose_resnet_50_256x192.pth", 33_999_697, 8.9, 70.4,
                  "SimpleBaseline ResNet-50 + 3 deconvs"),
        _baseline("simplebaseline_r101", "simplebaseline", dict(depth=101),
                  "pose_resnet_101_256x192.pth", 52_991_825, 12.4, 71.4,
                  "SimpleBaseline ResNet-101 + 3 deconvs"),
        _baseline("simplebaseline_r152", "simplebaseline", dict(depth=152),
                  "pose_resnet_152_256x192.pth", 68_635_473, 15.7, 72.0,
                  "SimpleBaseline ResNet-152 + 3 deconvs"),
    )
}


DETECTOR_MODEL = "detector"
# Pose sources that are not networks of this package (no checkpoint, no builder): `--model detector` takes the
# keypoints of the person detector's own predict when --detector-weights is a YOLO pose model
# (`pipeline/detector_poses.py`). Looked up by `model_info`, listed by `transpose-live models`, not in MODELS.
KEYPOINT_SOURCES: dict[str, ModelSpec] = {
    DETECTOR_MODEL: ModelSpec(
        name=DETECTOR_MODEL, family="detector", arch={}, checkpoint="", url=None, sha256=None, params=0,
        gflops=0.0, paper_ap=PaperAP(),
        description="the person detector's own keypoints (--detector-weights a YOLO pose model, e.g. "
                    "yolo11n-pose.pt): no crops, no second model"),
}


class UnknownModelError(LookupError):
    """A model name that is not in the registry (the CLI reports it as a one-line user error)."""


def list_models() -> list[str]:
    return list(MODELS)


def model_info(name: str) -> ModelSpec:
    """The registry entry of `name`; UnknownModelError naming the choices otherwise."""
    try:
        return MODELS[name] if name in MODELS else KEYPOINT_SOURCES[name]
    except (KeyError, TypeError):
        raise UnknownModelError(f"unknown model {name!r}; choose one of: {', '.join([*MODELS, *KEYPOINT_SOURCES])}") \
            from None


def transpose_models() -> list[str]:
    """Names of the models with an attention layer (TransPose-R/H)."""
    return [name for name, spec in MODELS.items() if spec.is_transpose]
