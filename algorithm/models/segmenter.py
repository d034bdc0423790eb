"""Tumour segmenters: a torchvision ResNet encoder, an FPN and a light semantic head.

HeLP 2019's winner used an FPN over a ResNet-34 encoder for per-pixel tumour
probability. Here the encoder stops at ``stages`` (later ResNet stages are
never built: they hold most of the weights and add little at this
resolution), the FPN merges them, and a Panoptic-FPN-style head brings every
level to stride 4, sums them and predicts one logit per pixel, upsampled to
the tile. Weights never come from a hub: they come from checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops import FeaturePyramidNetwork

from algorithm.configs import config_values
from algorithm.errors import ConfigError

ARCHITECTURES = ("resnet18", "resnet34")
_WIDTH = {1: 64, 2: 128, 3: 256, 4: 512}  # output channels of ResNet-18/34 stages


@dataclass(frozen=True)
class SegmenterConfig:
    """Everything needed to rebuild a segmenter and feed it the pixels it was trained on."""

    arch: str = "resnet18"
    stages: tuple[int, ...] = (1, 2, 3)  # ResNet stages feeding the FPN (1 = stride 4)
    fpn_channels: int = 64
    head_channels: int = 32
    tile_size: int = 256
    mpp: float = 2.0  # microns per pixel of the tiles the model sees

    def to_dict(self) -> dict:
        """Plain values for the checkpoint (tuples as lists)."""
        data = asdict(self)
        data["stages"] = list(self.stages)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "segmenter config") -> SegmenterConfig:
        """Rebuild from :meth:`to_dict`'s JSON types (a checkpoint's ``config``); ``source`` names it in errors."""
        values = config_values(cls, data, source)
        if "stages" in values:
            try:
                values["stages"] = tuple(int(s) for s in values["stages"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: stages: {values['stages']!r} is not a list of stages ({exc})") from exc
        return cls(**values)


class _Upsampler(nn.Sequential):
    """One FPN level to stride 4: ``steps`` x (3x3 conv, GroupNorm, ReLU, 2x upsampling)."""

    def __init__(self, in_channels: int, channels: int, steps: int) -> None:
        layers: list[nn.Module] = []
        for i in range(max(1, steps)):
            layers += [
                nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1, bias=False),
                nn.GroupNorm(8, channels),
                nn.ReLU(inplace=True),
            ]
            if steps > 0:
                layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        super().__init__(*layers)


class TumourSegmenter(nn.Module):
    """(N, 3, H, W) floats in [0, 1] -> (N, 1, H, W) tumour logits."""

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        if config.arch not in ARCHITECTURES:
            raise ConfigError(
                f"unknown segmenter architecture {config.arch!r}; choose one of {', '.join(ARCHITECTURES)}"
            )
        stages = tuple(config.stages)
        if not stages or sorted(set(stages)) != list(stages) or not set(stages) <= set(_WIDTH):
            raise ConfigError(f"segmenter stages must be increasing ResNet stages 1-4, got {stages}")
        stride = 2 ** (stages[-1] + 1)
        if config.tile_size % stride:
            raise ConfigError(f"tile size {config.tile_size} must be a multiple of {stride} for stages {stages}")
        body = getattr(resnet, config.arch)(weights=None)
        self.encoder = IntermediateLayerGetter(body, {f"layer{s}": str(i) for i, s in enumerate(stages)})
        self.fpn = FeaturePyramidNetwork([_WIDTH[s] for s in stages], config.fpn_channels)
        # stage s has stride 2**(s+1): s - 1 doublings bring it to stride 4
        self.upsamplers = nn.ModuleList(_Upsampler(config.fpn_channels, config.head_channels, s - 1) for s in stages)
        self.classifier = nn.Conv2d(config.head_channels, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Tumour logits ``(N, 1, H, W)`` at the input's size, from ``(N, 3, H, W)`` images in [0, 1]."""
        x = (images - 0.5) / 0.25  # fixed scaling; BatchNorm learns the rest
        features = self.fpn(self.encoder(x))
        merged = sum(up(f) for up, f in zip(self.upsamplers, features.values(), strict=True))
        logits = self.classifier(merged)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


def build_segmenter(config: SegmenterConfig) -> TumourSegmenter:
    """A segmenter for ``config``, randomly initialised (load a checkpoint for weights)."""
    return TumourSegmenter(config)
