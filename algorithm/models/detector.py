"""Mitotic-figure detectors: torchvision RetinaNet with a choice of backbones.

``resnet50_v2`` is torchvision's ``retinanet_resnet50_fpn_v2`` (the MIDOG seeds'
model); ``resnet18``/``resnet34`` with a narrower FPN are the light options that
train and run on a CPU. Weights are never downloaded: they come from checkpoints.
Labels: 1 = mitotic figure, 2 = imposter ("non-mitotic figure"); torchvision
counts the background in ``num_classes``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import RetinaNet, retinanet_resnet50_fpn_v2
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from algorithm.configs import config_values
from algorithm.engine.views import check_views
from algorithm.errors import ConfigError

CLASS_NAMES = {1: "mitotic figure", 2: "non-mitotic figure"}
ARCHITECTURES = ("resnet18", "resnet34", "resnet50_v2")  # resnet50_v2 ignores stages/fpn_channels


@dataclass(frozen=True)
class DetectorConfig:
    """Everything needed to rebuild a detector and feed it the pixels it was trained on."""

    arch: str = "resnet18"
    fpn_channels: int = 64
    stages: tuple[int, ...] = (2, 3)  # ResNet stages feeding the FPN (2 = stride 8); +2 extra levels
    tile_size: int = 512
    mpp: float = 0.5  # microns per pixel of the tiles the model sees
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128)  # one per pyramid level, in tile pixels
    class_names: dict[int, str] = field(default_factory=lambda: dict(CLASS_NAMES))
    views: int = 1  # test-time views fused per tile: 1, or 2 / 4 mirror images (algorithm/engine/views.py)

    def with_views(self, views: int | None) -> DetectorConfig:
        """This config with ``views`` test-time views; as it is for None (an option left at its default)."""
        return self if views is None else replace(self, views=views)

    @property
    def num_classes(self) -> int:
        """torchvision's class count: the largest label plus one (0 is the background)."""
        return max(self.class_names) + 1

    def to_dict(self) -> dict:
        """Plain values for the checkpoint (tuples as lists)."""
        data = asdict(self)
        data["anchor_sizes"] = list(self.anchor_sizes)
        data["stages"] = list(self.stages)
        data["class_names"] = {str(k): v for k, v in self.class_names.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "detector config") -> DetectorConfig:
        """Rebuild from :meth:`to_dict`'s JSON types (a checkpoint's ``config``); ``source`` names it in errors."""
        values = config_values(cls, data, source)
        key = ""
        try:
            for key in ("anchor_sizes", "stages"):
                if key in values:
                    values[key] = tuple(int(s) for s in values[key])
            key = "class_names"
            if key in values:
                values[key] = {int(k): str(v) for k, v in values[key].items()}
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source}: {key}: {values[key]!r} is not what to_dict writes ({exc})") from exc
        try:
            check_views(values.get("views", 1))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        return cls(**values)


def _anchors(sizes: tuple[int, ...]) -> AnchorGenerator:
    # three scales per octave as in the RetinaNet paper; one square ratio: cells are round
    scaled = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in sizes)
    return AnchorGenerator(scaled, ((1.0,),) * len(sizes))


def _resnet_fpn(arch: str, stages: tuple[int, ...], channels: int) -> BackboneWithFPN:
    """ResNet stages -> FPN, plus P6/P7-style extra levels. Unused later stages are never built."""
    body = getattr(resnet, arch)(weights=None, norm_layer=nn.BatchNorm2d)
    width = {1: 64, 2: 128, 3: 256, 4: 512}
    return BackboneWithFPN(
        body,
        return_layers={f"layer{s}": str(i) for i, s in enumerate(stages)},
        in_channels_list=[width[s] for s in stages],
        out_channels=channels,
        extra_blocks=LastLevelP6P7(channels, channels),
    )


def build_detector(config: DetectorConfig) -> RetinaNet:
    """A RetinaNet for ``config``, randomly initialised (load a checkpoint for weights)."""
    if config.arch not in ARCHITECTURES:
        raise ConfigError(f"unknown detector architecture {config.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    levels = len(config.stages) + 2
    if config.arch != "resnet50_v2" and len(config.anchor_sizes) != levels:
        raise ConfigError(f"{config.arch} has {levels} pyramid levels but {len(config.anchor_sizes)} anchor sizes")
    common = dict(min_size=config.tile_size, max_size=config.tile_size, score_thresh=0.05, detections_per_img=300)
    if config.arch == "resnet50_v2":  # torchvision's own anchors and head, as the seeds used it
        return retinanet_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=config.num_classes, **common)
    backbone = _resnet_fpn(config.arch, config.stages, config.fpn_channels)
    anchors = _anchors(config.anchor_sizes)
    head = RetinaNetHead(
        backbone.out_channels,
        anchors.num_anchors_per_location()[0],
        config.num_classes,
        norm_layer=partial(nn.GroupNorm, 16),  # as in torchvision's v2 head
    )
    return RetinaNet(backbone, config.num_classes, anchor_generator=anchors, head=head, **common)


def count_parameters(model: torch.nn.Module) -> int:
    """Parameters of ``model``, for model cards and summaries."""
    return sum(p.numel() for p in model.parameters())
