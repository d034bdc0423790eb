"""The detector's training loop: RetinaNet's focal loss, AdamW or SGD, warm-up
then cosine schedule, a checkpoint every epoch (``last.pt``, resumable) and the
best one by validation F1 at 7.5 um (``best.pt``, what the container loads).

Validation F1, and the decision threshold chosen with it, are taken at
``valid_density`` mitotic figures per mm^2 of tissue when it is set (see
``validate.py``), and reported per scanner too. With hard-negative mining on
(``MiningConfig.share`` > 0), the current model's false positives on the
training slides are mined every ``MiningConfig.every`` steps and a share of the
negative patches is centred on them (``hard_negatives.py``). Both settings,
the density and each mining round's counts are recorded in the checkpoints,
with the patch sampling (its shares of confounder and real-image negatives)
and the real images' names.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithm.console import progress
from algorithm.device import autocast
from algorithm.errors import ConfigError
from algorithm.io.atomic import write_json_atomic
from algorithm.models import DetectorConfig, build_detector, save_checkpoint
from algorithm.models.checkpoint import load_state, read_checkpoint
from algorithm.stain.spec import StainSpec
from training.datasets.annotations import SlideAnnotations
from training.detector.hard_negatives import HardNegativeMiner, MiningConfig
from training.detector.paste import FigurePaster
from training.detector.sampler import Patch, PatchSampler, SamplingConfig, augment
from training.detector.validate import slides_tissue_mm2, validate_detector, validation_record
from training.stain_target import transform_factory

logger = logging.getLogger(__name__)  # per-epoch records (INFO)

PatchAugment = Callable[[Patch, np.random.Generator], Patch]


@dataclass(frozen=True)
class TrainOptions:
    """The optimisation settings of one detector training run."""

    epochs: int = 10
    iterations: int = 100  # per epoch
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    warmup: int = 50  # iterations of linear warm-up
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    validate_every: int = 1
    valid_density: float | None = None  # figures per mm^2 of tissue the threshold is chosen at; None: the slides' own


def _optimizer(model: torch.nn.Module, options: TrainOptions) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if options.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    if options.optimizer == "sgd":
        return torch.optim.SGD(params, lr=options.lr, momentum=0.9, weight_decay=options.weight_decay, nesterov=True)
    raise ConfigError(f"unknown optimizer {options.optimizer!r}; use adamw or sgd")


def _schedule(optimizer: torch.optim.Optimizer, options: TrainOptions) -> torch.optim.lr_scheduler.LambdaLR:
    total = max(1, options.epochs * options.iterations)

    def factor(step: int) -> float:
        if step < options.warmup:
            return (step + 1) / options.warmup
        progress_ = (step - options.warmup) / max(1, total - options.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress_)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _to_batch(patches: list[Patch], device: torch.device) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    images = [torch.from_numpy(p.pixels).to(device).permute(2, 0, 1).float().div_(255) for p in patches]
    targets = [
        {"boxes": torch.from_numpy(p.boxes).to(device), "labels": torch.from_numpy(p.labels).to(device)}
        for p in patches
    ]
    return images, targets


def train_detector(
    train: list[SlideAnnotations],
    valid: list[SlideAnnotations],
    config: DetectorConfig,
    options: TrainOptions,
    out_dir: Path,
    sampling: SamplingConfig | None = None,
    stain: StainSpec | None = None,
    patch_augment: PatchAugment | None = None,
    resume: bool = False,
    extra: dict[str, Any] | None = None,
    log: Callable[[str], None] = logger.info,
    mining: MiningConfig | None = None,
    real: list[SlideAnnotations] | None = None,
    paster: FigurePaster | None = None,
    figures: list[SlideAnnotations] | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Train, validate each epoch, keep ``last.pt``/``best.pt`` in ``out_dir``; returns the best metrics.

    ``stain``: the normalisation target every slide is mapped to; stored in every checkpoint with
    ``extra``, for the container. ``mining``: hard negatives from the model's own false positives
    (off by default); its ``share`` overrides ``sampling.hard_negative_fraction``. ``real``: unannotated real
    images ``sampling.real_fraction`` of the negative patches come from (``training.datasets.real_negatives``),
    and ``sampling.pasted_fraction`` of the positives, ``paster`` pasting synthetic figures into them;
    ``figures``: crops of real mitotic figures, ``sampling.real_figure_fraction`` of the positives blending one
    into a real image (``training.detector.real_figures``). ``init``: weights to start from (fine-tuning; a fresh
    optimiser and schedule).
    """
    device = torch.device(options.device)
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    mining = mining or MiningConfig()
    sampling = sampling or SamplingConfig(tile_size=config.tile_size, mpp=config.mpp)
    sampling = dataclasses.replace(sampling, hard_negative_fraction=mining.share)
    miner = HardNegativeMiner(train, config, mining, stain, device, options.seed)
    factory = transform_factory(stain, config.mpp) if stain else None
    sampler = PatchSampler(train, sampling, factory, miner.pool, real, paster, figures)
    valid_mm2 = slides_tissue_mm2(valid) if valid else []
    validation = validation_record(valid, valid_mm2, options.valid_density)
    model = build_detector(config)
    if init is not None:
        model.load_state_dict(init)
    model = model.to(device)
    optimizer = _optimizer(model, options)
    scheduler = _schedule(optimizer, options)
    scaler = torch.amp.GradScaler("cuda", enabled=options.amp and device.type == "cuda")
    out_dir.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"f1": -1.0}
    start_epoch = 0
    if resume and (out_dir / "last.pt").exists():
        state = read_checkpoint(out_dir / "last.pt", "detector")
        load_state(out_dir / "last.pt", model, state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history, best = state["epoch"], json.loads(state["history"]), json.loads(state["best"])
        if "hard_negative_pool" in state:
            miner.restore(state["hard_negative_pool"], state["hard_negatives"]["rounds"])
        log(f"resumed from {out_dir / 'last.pt'} after epoch {start_epoch}")
    elif resume:
        logger.warning(f"--resume: no {out_dir / 'last.pt'} to resume from; training from scratch")
    extra = {**(extra or {}), "stain": stain}
    total_steps = options.epochs * options.iterations
    for epoch in range(start_epoch, options.epochs):
        model.train()
        started = time.perf_counter()
        losses = []
        rounds_before = len(miner.rounds)
        for it in progress(range(options.iterations), total=options.iterations, desc=f"epoch {epoch + 1}", unit="it"):
            patches = [sampler.sample(rng) for _ in range(options.batch_size)]
            patches = [augment(p, rng) for p in patches]
            if patch_augment is not None:
                patches = [patch_augment(p, rng) for p in patches]
            images, targets = _to_batch(patches, device)
            with autocast(device, options.amp):
                loss_parts = model(images, targets)
                loss = sum(loss_parts.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(float(loss.detach()))
            step = epoch * options.iterations + it + 1
            if miner.due(step, total_steps):
                miner.mine(model, step)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - started,
        }
        if mining.enabled:
            mined = miner.rounds[rounds_before:]
            record.update({"mined": sum(r["false_positives"] for r in mined), "pool": len(miner.pool)})
        if valid and ((epoch + 1) % options.validate_every == 0 or epoch + 1 == options.epochs):
            record.update(validate_detector(model, config, valid, valid_mm2, options.valid_density, device, stain))
        history.append(record)
        log(_log_line(record))
        saved = {
            **extra,
            "hard_negatives": miner.state(),
            "validation": validation,
            "sampling": asdict(sampling),
            "real_negatives": [r.file_name for r in real or []],
            "real_figures": [f.file_name for f in figures or []],
        }
        if record.get("f1", -1.0) > best.get("f1", -1.0) or not valid:  # without --valid: every epoch, the last kept
            best = record
            save_checkpoint(
                out_dir / "best.pt",
                "detector",
                config.to_dict(),
                model,
                metrics=best,
                extra={**saved, "threshold": best.get("threshold", 0.5)},
            )
        save_checkpoint(
            out_dir / "last.pt",
            "detector",
            config.to_dict(),
            model,
            metrics=record,
            extra={
                **saved,
                "hard_negative_pool": miner.pool.to_json(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": json.dumps(rng.bit_generator.state),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "history": json.dumps(history),
                "best": json.dumps(best),
                "options": asdict(options),
            },
        )
        write_json_atomic(out_dir / "history.json", history)
    sampler.close()
    return best


def _log_line(record: dict[str, Any]) -> str:
    """An epoch's record on one line; per-scanner scores as ``f1[A]=...``."""
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "domains"]
    for domain, score in record.get("domains", {}).items():
        parts.append(f"f1[{domain}]={score['f1']:.4g} p[{domain}]={score['precision']:.4g}")
    return " ".join(parts)
