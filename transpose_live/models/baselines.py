"""The CNN baselines of the TransPose paper: SimpleBaseline (ResNet + 3 deconvs) and HRNet-W32/W48."""

from __future__ import annotations

from torch import nn

from transpose_live.models.hrnet import HRNetBackbone
from transpose_live.models.resnet import RESNET_DEPTHS, ResNetTrunk, deconv_head

NUM_JOINTS = 17


class SimpleBaseline(ResNetTrunk):
    def __init__(self, depth: int = 50, num_keypoints: int = NUM_JOINTS):
        super().__init__(RESNET_DEPTHS[depth])
        self.deconv_layers = deconv_head(self.out_channels, 256, 3)
        self.final_layer = nn.Conv2d(256, num_keypoints, kernel_size=1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(self.forward_trunk(x)))


class PoseHRNet(HRNetBackbone):
    def __init__(self, width: int = 32, num_keypoints: int = NUM_JOINTS):
        super().__init__(width, num_stages=4)
        self.final_layer = nn.Conv2d(width, num_keypoints, kernel_size=1)

    def forward(self, x):
        return self.final_layer(super().forward(x))
