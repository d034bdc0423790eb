"""The patch classifier's training loop: slide labels on patches, BCE, AdamW with a cosine schedule.

Batches are domain- then class-balanced (:class:`PatchBank`), each patch turned by one
of the square's eight symmetries and, with a stain target, jittered in its stains; with
``scanner``, blurred, JPEG-compressed and noised as other scanners would
(:mod:`training.scanner_augment`).
After the last step the BatchNorm statistics are measured again over training patches
(:func:`recalibrate_batch_norm`): torchvision's MobileNet and EfficientNet keep running
statistics with momentum 0.01, which a few hundred steps from scratch leave far from the
trained weights' (the eval-mode model then gave every patch the same probability).
There is no validation-based checkpoint choice: patch labels are the slides' labels,
so patch-level scores are noisy by design; the slide-level scores that matter come
from the label model on out-of-fold probabilities.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.console import progress
from algorithm.device import autocast, to_tensor
from algorithm.models import PatchClassifier, PatchClassifierConfig, build_patch_classifier
from algorithm.stain.augment import StainAugmentor
from training.patch_classifier.data import PatchBank
from training.scanner_augment import ScannerAugment

logger = logging.getLogger(__name__)  # per-epoch records (INFO)


@dataclass(frozen=True)
class PatchTrainOptions:
    """The optimisation settings of one patch classifier training run."""

    epochs: int = 6
    iterations: int = 40  # per epoch
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    amp: bool = True


def symmetries(images: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    """Each ``(H, W, 3)`` image turned by a random one of the square's eight symmetries."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        if rng.random() < 0.5:
            image = image[:, ::-1]
        if rng.random() < 0.5:
            image = image[::-1]
        if rng.random() < 0.5:
            image = image.transpose(1, 0, 2)
        out[i] = image
    return out


def train_patch_classifier(
    bank: PatchBank,
    members: Sequence[int],
    config: PatchClassifierConfig,
    options: PatchTrainOptions,
    augmentor: StainAugmentor | None = None,
    log: Callable[[str], None] = logger.info,
    desc: str = "",
    scanner: ScannerAugment | None = None,
) -> tuple[PatchClassifier, list[dict[str, float]]]:
    """A classifier trained on the patches of slides ``members`` of ``bank``; the model (eval mode) and its
    per-epoch history."""
    device = torch.device(options.device)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model = build_patch_classifier(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    steps = max(1, options.epochs * options.iterations)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr, total_steps=steps, pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=options.amp and device.type == "cuda")
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history: list[dict[str, float]] = []
    for epoch in range(options.epochs):
        model.train()
        started = time.perf_counter()
        losses, correct = [], []
        label = f"{desc} epoch {epoch + 1}".strip()
        for _ in progress(range(options.iterations), total=options.iterations, desc=label, unit="it"):
            images, labels = bank.sample(members, options.batch_size, rng)
            images = symmetries(images, rng)
            if augmentor is not None:
                images = np.asarray(augmentor.augment(images, rng))
            if scanner is not None:
                images = scanner(images, rng)
            targets = torch.from_numpy(labels).to(device)
            with autocast(device, options.amp):
                logits = model(to_tensor(images, device))
            loss = loss_fn(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            losses.append(float(loss.detach()))
            correct.append(float(((logits.detach() > 0).float() == targets).float().mean()))
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "train_patch_accuracy": float(np.mean(correct)),
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    recalibrate_batch_norm(model, bank, members, options.batch_size, rng, device)
    return model.eval(), history


@torch.no_grad()
def recalibrate_batch_norm(
    model: torch.nn.Module,
    bank: PatchBank,
    members: Sequence[int],
    batch_size: int,
    rng: np.random.Generator,
    device: torch.device,
    batches: int = 32,
) -> None:
    """Reset every BatchNorm's running statistics and measure them as a plain average over ``batches``
    batches of training patches (no augmentation but the symmetries), the weights unchanged."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    model.train()
    for _ in range(batches):
        images, _labels = bank.sample(members, batch_size, rng)
        model(to_tensor(symmetries(images, rng), device))
    model.eval()


@torch.inference_mode()
def predict_patches(
    model: torch.nn.Module, pixels: NDArray[np.uint8], device: str = "cpu", batch_size: int = 32
) -> NDArray[np.float32]:
    """The model's probability for each of ``pixels``' patches (already normalised, as the bank holds them)."""
    model.eval()
    found = []
    for start in range(0, len(pixels), batch_size):
        logits = model(to_tensor(pixels[start : start + batch_size], torch.device(device)))
        found.append(torch.sigmoid(logits.float()).cpu().numpy())
    return np.concatenate(found).astype(np.float32) if found else np.zeros(0, np.float32)
