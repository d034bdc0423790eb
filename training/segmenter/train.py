"""The segmenter's training loop: BCE + Jaccard, AdamW, learning rate halved when the
validation IoU plateaus (HeLP's recipe), a checkpoint every epoch (``last.pt``) and the
best one by validation IoU (``best.pt``, what the container loads as ``segmenter.pt``),
with ``report.json`` (its IoU per validation slide).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithm.console import progress
from algorithm.device import autocast, to_tensor
from algorithm.io.atomic import write_json_atomic
from algorithm.models import SegmenterConfig, build_segmenter, save_checkpoint
from algorithm.stain.spec import StainSpec
from training.datasets.tumour import TumourSlide
from training.segmenter.loss import bce_jaccard_loss
from training.segmenter.sampler import MaskPatch, MaskPatchSampler, augment
from training.segmenter.validate import validate
from training.stain_target import transform_factory

logger = logging.getLogger(__name__)  # per-epoch records (INFO)

PatchAugment = Callable[[MaskPatch, np.random.Generator], MaskPatch]


@dataclass(frozen=True)
class SegmenterTrainOptions:
    """The optimisation settings of one segmenter training run."""

    epochs: int = 10
    iterations: int = 100  # per epoch
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    plateau_patience: int = 2  # epochs without a better validation IoU before the rate halves
    tumour_fraction: float = 0.5
    seed: int = 0
    device: str = "cpu"
    amp: bool = True


def _to_batch(patches: list[MaskPatch], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    targets = torch.from_numpy(np.stack([p.target for p in patches])).to(device)
    return to_tensor(np.stack([p.pixels for p in patches]), device), targets[:, None]


def train_segmenter(
    train: list[TumourSlide],
    valid: list[TumourSlide],
    config: SegmenterConfig,
    options: SegmenterTrainOptions,
    out_dir: Path,
    stain: StainSpec | None = None,
    patch_augment: PatchAugment | None = None,
    extra: dict[str, Any] | None = None,
    log: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Train, validate every epoch, keep ``best.pt``/``last.pt`` in ``out_dir``; return the best record.

    ``stain``: the normalisation target every slide is mapped to (saved in the checkpoints).
    """
    device = torch.device(options.device)
    factory = transform_factory(stain, config.mpp) if stain else None
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    sampler = MaskPatchSampler(train, config.tile_size, config.mpp, factory, options.tumour_fraction)
    model = build_segmenter(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=0.5, patience=options.plateau_patience
    )
    scaler = torch.amp.GradScaler("cuda", enabled=options.amp and device.type == "cuda")
    out_dir.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"iou": -1.0}
    extra = {**(extra or {}), "stain": stain}
    for epoch in range(options.epochs):
        model.train()
        started = time.perf_counter()
        losses = []
        for _ in progress(range(options.iterations), total=options.iterations, desc=f"epoch {epoch + 1}", unit="it"):
            patches = [augment(sampler.sample(rng), rng) for _ in range(options.batch_size)]
            if patch_augment is not None:
                patches = [patch_augment(p, rng) for p in patches]
            images, targets = _to_batch(patches, device)
            with autocast(device, options.amp):
                logits = model(images)
            loss = bce_jaccard_loss(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        score = None
        if valid:
            score = validate(valid, model, config, device, stain)
            record.update({"iou": score.iou, "mean_tumour_iou": score.mean_tumour_iou})
            plateau.step(score.iou)
        history.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if record.get("iou", -1.0) > best["iou"] or not valid:
            best = record
            report = {
                "best": best,
                "validation": score.as_dict() if score else None,
                "training_slides": [s.name for s in train],
                "options": asdict(options),
            }
            write_json_atomic(out_dir / "report.json", report)
            save_checkpoint(
                out_dir / "best.pt", "segmenter", config.to_dict(), model, metrics=best, extra=extra, half=True
            )
        save_checkpoint(out_dir / "last.pt", "segmenter", config.to_dict(), model, metrics=record, extra=extra)
        write_json_atomic(out_dir / "history.json", history)
    sampler.close()
    return best
