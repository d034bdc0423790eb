"""Nuclei segmenter: a small U-Net from torchvision's convolution blocks.

The nuclei thesis in our sources compared U-Nets with ResNet-34, Inception-V3
and EfficientNet-B2 encoders, all pretrained on ImageNet. Without hub weights
a big encoder only slows training down: nuclei are a few dozen pixels wide at
0.5 um/px, so a plain U-Net (two 3x3 conv-BN-ReLU blocks per level, max
pooling down, transposed convolutions up, skip connections at every level)
with a few channels per level learns them from a handful of images, and runs
a 1000 x 1000 image in well under a second on two CPU cores. Output: one
logit per pixel, at the tile's own size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation

from algorithm.configs import config_values
from algorithm.errors import ConfigError


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild a nuclei U-Net and feed it the pixels it was trained on."""

    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels per level, finest first
    tile_size: int = 256
    mpp: float = 0.5  # microns per pixel of the tiles the model sees

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ConfigError(f"a U-Net needs two or more levels of positive widths, got {self.widths}")
        stride = 2 ** (len(self.widths) - 1)
        if self.tile_size % stride:
            raise ConfigError(
                f"tile size {self.tile_size} must be a multiple of {stride} for {len(self.widths)} levels"
            )
        if not self.mpp > 0:
            raise ConfigError(f"mpp must be positive, got {self.mpp}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint (tuples as lists)."""
        data = asdict(self)
        data["widths"] = list(self.widths)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "U-Net config") -> UNetConfig:
        """Rebuild from :meth:`to_dict`'s JSON types (a checkpoint's ``config``); ``source`` names it in errors."""
        values = config_values(cls, data, source)
        if "widths" in values:
            try:
                values["widths"] = tuple(int(w) for w in values["widths"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: widths: {values['widths']!r} is not a list of channels ({exc})") from exc
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc


class _Block(nn.Sequential):
    """Two 3x3 convolutions, each with BatchNorm and ReLU (torchvision's block)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__(Conv2dNormActivation(in_channels, channels, 3), Conv2dNormActivation(channels, channels, 3))


class UNet(nn.Module):
    """(N, 3, H, W) floats in [0, 1] -> (N, 1, H, W) nuclei logits; H and W multiples of 2**(levels - 1)."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        widths = config.widths
        self.down = nn.ModuleList(_Block(3 if i == 0 else widths[i - 1], w) for i, w in enumerate(widths))
        self.pool = nn.MaxPool2d(2)
        coarse_to_fine = range(len(widths) - 1, 0, -1)
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2) for i in coarse_to_fine)
        self.merge = nn.ModuleList(_Block(2 * widths[i - 1], widths[i - 1]) for i in coarse_to_fine)
        self.classifier = nn.Conv2d(widths[0], 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Nuclei logits ``(N, 1, H, W)`` from ``(N, 3, H, W)`` images in [0, 1]."""
        x = (images - 0.5) / 0.25  # fixed scaling; BatchNorm learns the rest
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.classifier(x)


def build_unet(config: UNetConfig) -> UNet:
    """A nuclei U-Net for ``config``, randomly initialised (load a checkpoint for weights)."""
    return UNet(config)
