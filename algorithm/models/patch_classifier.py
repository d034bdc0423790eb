"""Patch classifiers: a torchvision CNN that gives one logit per patch (the HER2 study's patch level).

The study trained Xception by transfer learning, every patch carrying its slide's
label. No hub weights here: the network is a torchvision classifier built with
``weights=None`` and one output, trained from scratch by ``python -m training
patch-classifier``; its probabilities are the slide model's input, never the
slide's call on their own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torchvision import models

from algorithm.configs import config_values
from algorithm.errors import ConfigError

ARCHITECTURES = ("resnet18", "resnet34", "mobilenet_v3_small", "efficientnet_b0")


@dataclass(frozen=True)
class PatchClassifierConfig:
    """Everything needed to rebuild a patch classifier and feed it the patches it was trained on."""

    arch: str = "resnet18"
    tile_size: int = 296  # the study's patch side, in pixels at ``mpp``
    mpp: float = 1.0  # the study's slides reduced to 1/4 of a 0.25 um/px scan

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "patch classifier config") -> PatchClassifierConfig:
        """Rebuild from :meth:`to_dict` (a checkpoint's ``config``); ``source`` names it in errors."""
        return cls(**config_values(cls, data, source))


class PatchClassifier(nn.Module):
    """(N, 3, H, W) floats in [0, 1] -> (N,) logits of the positive class."""

    def __init__(self, config: PatchClassifierConfig) -> None:
        super().__init__()
        if config.arch not in ARCHITECTURES:
            raise ConfigError(
                f"unknown patch classifier architecture {config.arch!r}; choose one of {', '.join(ARCHITECTURES)}"
            )
        if config.tile_size < 32:
            raise ConfigError(f"patch classifier tile size must be at least 32 pixels, got {config.tile_size}")
        self.network = getattr(models, config.arch)(weights=None, num_classes=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One logit per image, from ``(N, 3, H, W)`` images in [0, 1]."""
        x = (images - 0.5) / 0.25  # fixed scaling, as the kit's other models; BatchNorm learns the rest
        return self.network(x)[:, 0]


def build_patch_classifier(config: PatchClassifierConfig) -> PatchClassifier:
    """A patch classifier for ``config``, randomly initialised (load a checkpoint for weights)."""
    return PatchClassifier(config)
