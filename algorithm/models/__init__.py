"""Models: builders, checkpoints and loaders."""

from __future__ import annotations

import os
from typing import Any

import torch
from torchvision.models.detection import RetinaNet

from algorithm.models.checkpoint import load_state, read_checkpoint, save_checkpoint
from algorithm.models.detector import CLASS_NAMES, DetectorConfig, build_detector

__all__ = ["DetectorConfig", "build_detector", "load_detector", "save_checkpoint", "CLASS_NAMES"]


def load_detector(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[RetinaNet, DetectorConfig, dict[str, Any]]:
    """A detector from a checkpoint file, in eval mode on ``device``, and the checkpoint's
    other contents (stain target, threshold, metrics), read in the same pass."""
    payload = read_checkpoint(path, "detector")
    config = DetectorConfig.from_dict(payload["config"])
    model = build_detector(config)
    load_state(path, model, payload.pop("state_dict"))
    return model.to(device).eval(), config, payload
