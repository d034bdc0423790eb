"""The nuclei U-Net's training loop: random crops, the square's symmetries and stain augmentation,
BCE + Jaccard (the segmenter's loss), AdamW with a one-cycle learning rate over a fixed number of steps.

No model selection on held-out images: with ten images, every one is needed either to train or to
score honestly, so the run's last weights are the model (``model.pt``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithm.console import progress
from algorithm.device import autocast, to_tensor
from algorithm.models import UNetConfig, build_unet, save_checkpoint
from algorithm.stain.spec import StainSpec
from training.nuclei.data import NucleiImage
from training.segmenter.loss import bce_jaccard_loss
from training.segmenter.sampler import MaskPatch, augment

logger = logging.getLogger(__name__)

PatchAugment = Callable[[MaskPatch, np.random.Generator], MaskPatch]


@dataclass(frozen=True)
class NucleiTrainOptions:
    """The optimisation settings of one nuclei training run."""

    steps: int = 1200
    batch_size: int = 8
    crop: int = 192  # training crops (model pixels); the job tiles at the config's tile size
    lr: float = 3e-3  # the one-cycle schedule's peak
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    amp: bool = True  # CUDA only


def sample_crop(images: list[NucleiImage], crop: int, rng: np.random.Generator) -> MaskPatch:
    """A ``crop`` x ``crop`` patch from an image drawn in proportion to its area (reflect-padded if smaller)."""
    areas = np.array([im.target.size for im in images], dtype=np.float64)
    index = int(rng.choice(len(images), p=areas / areas.sum()))
    image = images[index]
    h, w = image.target.shape
    pad_y, pad_x = max(0, crop - h), max(0, crop - w)
    pixels, target = image.pixels, image.target
    if pad_y or pad_x:
        pixels = np.pad(pixels, ((0, pad_y), (0, pad_x), (0, 0)), mode="reflect")
        target = np.pad(target, ((0, pad_y), (0, pad_x)), mode="reflect")
    y = int(rng.integers(0, target.shape[0] - crop + 1))
    x = int(rng.integers(0, target.shape[1] - crop + 1))
    return MaskPatch(pixels[y : y + crop, x : x + crop], target[y : y + crop, x : x + crop], index)


def train_nuclei(
    images: list[NucleiImage],
    config: UNetConfig,
    options: NucleiTrainOptions,
    out: Path,
    stain: StainSpec | None,
    patch_augment: PatchAugment | None = None,
    extra: dict[str, Any] | None = None,
) -> torch.nn.Module:
    """Train on ``images`` for ``options.steps`` steps; save ``out/model.pt`` (kind "nuclei") and return the model."""
    device = torch.device(options.device)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model = build_unet(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr, total_steps=options.steps)
    scaler = torch.amp.GradScaler("cuda", enabled=options.amp and device.type == "cuda")
    model.train()
    started = time.perf_counter()
    recent: list[float] = []
    for step in progress(range(options.steps), total=options.steps, desc="nuclei", unit="step"):
        patches = [augment(sample_crop(images, options.crop, rng), rng) for _ in range(options.batch_size)]
        if patch_augment is not None:
            patches = [patch_augment(p, rng) for p in patches]
        pixels = to_tensor(np.stack([p.pixels for p in patches]), device)
        targets = torch.from_numpy(np.stack([p.target for p in patches]))[:, None].to(device)
        with autocast(device, options.amp):
            logits = model(pixels)
        loss = bce_jaccard_loss(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        recent.append(float(loss.detach()))
        if (step + 1) % 50 == 0 or step + 1 == options.steps:
            seconds = time.perf_counter() - started
            logger.info(f"step {step + 1}/{options.steps}: loss {np.mean(recent):.4f} ({seconds:.0f} s)")
            recent = []
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"steps": options.steps, "seconds": round(time.perf_counter() - started, 1)}
    extra = {"threshold": 0.5, **(extra or {}), "stain": stain}
    save_checkpoint(out / "model.pt", "nuclei", config.to_dict(), model, metrics=metrics, extra=extra, half=True)
    return model
