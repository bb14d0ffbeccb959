"""HRNet: multi-resolution branches with repeated fusion.

One implementation serves the HRNet-W32/W48 baselines (4 stages) and TransPose-H's
HRNet-S backbone (stages 1-3, the last module returning only the highest resolution).
Module names follow the official checkpoints (`transition1`, `stage2.0.branches.1.3.conv1` ...).
"""

from __future__ import annotations

from torch import nn

from transpose_live.models.resnet import BN_MOMENTUM, BasicBlock, Bottleneck, conv3x3, make_layer


def _conv_bn(in_ch: int, out_ch: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [conv3x3(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch, momentum=BN_MOMENTUM)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks followed by sum fusion across resolutions."""

    def __init__(self, channels: list[int], blocks_per_branch: int, multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(channels)
        self.branches = nn.ModuleList(
            make_layer(BasicBlock, c, c, blocks_per_branch)[0] for c in channels
        )
        self.fuse_layers = self._make_fuse_layers(channels, multi_scale_output) if self.num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _make_fuse_layers(channels: list[int], multi_scale_output: bool) -> nn.ModuleList:
        n = len(channels)
        fuse = nn.ModuleList()
        for i in range(n if multi_scale_output else 1):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:  # lower resolution -> 1x1 conv, BN, nearest upsampling
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], kernel_size=1, bias=False),
                        nn.BatchNorm2d(channels[i], momentum=BN_MOMENTUM),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                    ))
                elif j == i:
                    row.append(None)
                else:  # higher resolution -> chain of stride-2 3x3 convs
                    steps = i - j
                    row.append(nn.Sequential(*[
                        _conv_bn(channels[j], channels[i] if k == steps - 1 else channels[j], 2, relu=k != steps - 1)
                        for k in range(steps)
                    ]))
            fuse.append(row)
        return fuse

    def forward(self, xs: list):
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j in range(self.num_branches):
                if j != i:
                    y = y + row[j](xs[j])
            out.append(self.relu(y))
        return out


def _make_transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
    layers = nn.ModuleList()
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(_conv_bn(prev[i], c, 1, relu=True) if prev[i] != c else None)
        else:
            extra = i + 1 - len(prev)
            layers.append(nn.Sequential(*[
                _conv_bn(prev[-1], c if k == extra - 1 else prev[-1], 2, relu=True) for k in range(extra)
            ]))
    return layers


class HRNetBackbone(nn.Module):
    """HRNet stem + layer1 + stages 2..`num_stages`; returns the highest-resolution map (1/4)."""

    MODULES_PER_STAGE = {2: 1, 3: 4, 4: 3}

    def __init__(self, width: int, num_stages: int = 4, blocks_per_branch: int = 4):
        super().__init__()
        self.num_stages = num_stages
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1, prev_out = make_layer(Bottleneck, 64, 64, 4)
        prev = [prev_out]
        for s in range(2, num_stages + 1):
            cur = [width * 2**b for b in range(s)]
            setattr(self, f"transition{s - 1}", _make_transition(prev, cur))
            n_mod = self.MODULES_PER_STAGE[s]
            last_stage = s == num_stages
            setattr(self, f"stage{s}", nn.Sequential(*[
                HighResolutionModule(cur, blocks_per_branch, multi_scale_output=not (last_stage and m == n_mod - 1))
                for m in range(n_mod)
            ]))
            prev = cur
        self.out_channels = width

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for s in range(2, self.num_stages + 1):
            transition = getattr(self, f"transition{s - 1}")
            xs = [
                (xs[i] if i < len(xs) else xs[-1]) if t is None else t(xs[i] if i < len(xs) else xs[-1])
                for i, t in enumerate(transition)
            ]
            xs = getattr(self, f"stage{s}")(xs)
        return xs[0]
