"""Models: builders, checkpoints and loaders.

Each loader reads a checkpoint of the kit's architecture or a participant's own network saved with
:func:`save_program` (:mod:`algorithm.models.program`); the first item it returns is then that network.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torchvision.models.detection import RetinaNet

from algorithm.models.checkpoint import load_state, read_checkpoint, save_checkpoint
from algorithm.models.detector import CLASS_NAMES, DetectorConfig, build_detector
from algorithm.models.patch_classifier import PatchClassifier, PatchClassifierConfig, build_patch_classifier
from algorithm.models.program import load_program, refuse_program, save_program
from algorithm.models.segmenter import SegmenterConfig, TumourSegmenter, build_segmenter
from algorithm.models.unet import UNet, UNetConfig, build_unet

__all__ = [
    "DetectorConfig",
    "build_detector",
    "load_detector",
    "save_checkpoint",
    "CLASS_NAMES",
    "SegmenterConfig",
    "TumourSegmenter",
    "build_segmenter",
    "load_segmenter",
    "UNet",
    "UNetConfig",
    "build_unet",
    "load_nuclei_segmenter",
    "PatchClassifier",
    "PatchClassifierConfig",
    "build_patch_classifier",
    "load_patch_classifier",
    "save_program",
    "refuse_program",
]


def _load(
    path: str | os.PathLike[str], kind: str, config_type: Any, build: Any, device: str | torch.device
) -> tuple[Any, Any, dict[str, Any]]:
    """Model, config and the rest of the checkpoint; the public loaders give the first two their types."""
    payload = read_checkpoint(path, kind)
    config = config_type.from_dict(payload["config"], source=f"{path}: config")
    if "program" in payload:  # a participant's own network
        return load_program(path, payload, device), config, payload
    model = build(config)
    load_state(path, model, payload.pop("state_dict"))
    return model.to(device).eval(), config, payload


def load_detector(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[RetinaNet, DetectorConfig, dict[str, Any]]:
    """A detector from a checkpoint file, in eval mode on ``device``, and the checkpoint's
    other contents (stain target, threshold, metrics), read in the same pass."""
    return _load(path, "detector", DetectorConfig, build_detector, device)


def load_segmenter(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[TumourSegmenter, SegmenterConfig, dict[str, Any]]:
    """A tumour segmenter from a checkpoint file, in eval mode on ``device``, and the rest of the checkpoint."""
    return _load(path, "segmenter", SegmenterConfig, build_segmenter, device)


def load_nuclei_segmenter(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[UNet, UNetConfig, dict[str, Any]]:
    """A nuclei U-Net from a checkpoint file (kind "nuclei"), in eval mode on ``device``, and the rest of the
    checkpoint (stain target, threshold, metrics)."""
    return _load(path, "nuclei", UNetConfig, build_unet, device)


def load_patch_classifier(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[PatchClassifier, PatchClassifierConfig, dict[str, Any]]:
    """A patch classifier from a checkpoint file (kind "patch-classifier"), in eval mode on ``device``, and the
    rest of the checkpoint (stain target, metrics)."""
    return _load(path, "patch-classifier", PatchClassifierConfig, build_patch_classifier, device)
