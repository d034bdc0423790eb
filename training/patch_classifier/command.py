"""``python -m training patch-classifier``: train the patch CNN on slides with labels only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.io.atomic import write_json_atomic
from algorithm.models import PatchClassifierConfig, save_checkpoint
from algorithm.models.patch_classifier import ARCHITECTURES
from algorithm.patches import REASONS, PatchOptions
from training.arguments import (
    SEEDED,
    add_input_arguments,
    add_loop_arguments,
    add_run_arguments,
    add_scanner_augment_argument,
    fold_count,
)
from training.datasets.labelled import LabelledSlide, read_labelled_folder
from training.folds import fold_of
from training.patch_classifier.data import PatchBank
from training.patch_classifier.train import PatchTrainOptions, predict_patches, train_patch_classifier
from training.scanner_augment import ScannerAugment
from training.stain_target import fit_target, target_augmentor

NAME = "patch-classifier"
HELP = "train the patch CNN of a slide-label task on slides with labels only (HER2 study)"
DESCRIPTION = """\
Train a torchvision CNN (no hub weights) on patches of slides that carry only a
slide label (CSV with columns slide,label; 1/0, positive/negative or true/false),
the HER2 study's first level: each slide's patches are chosen as the container
chooses them (tissue, no blood, enough nuclei; at --mpp, --tile-size pixels),
stain-normalised to one target (saved in the checkpoint), and every patch is
taught its slide's label (weak supervision). Batches are domain-balanced
(scanner, from synthetic truth files) and class-balanced, with the square's
symmetries and stain augmentation.

Cross-validation by slide: --folds K trains K models, each on all but one fold
of slides, and predicts the held-out fold's patches. These out-of-fold
probabilities are what the slide-level model (python -m training
label-classifier) is fitted on: probabilities from a model that saw the slide
would be too confident. Then one model is trained on all slides: best.pt.
--folds domain makes each scanner (domain) a fold instead: every slide's
out-of-fold probabilities then come from a model that never saw its scanner,
so the label model is fitted on probabilities shifted as a new scanner shifts
them, and its threshold holds on scanners neither model saw.

Writes to --out: best.pt (copy it to patch_classifier.pt for python -m algorithm),
oof-probabilities.json (slide -> label and out-of-fold patch probabilities),
report.json (patch-level accuracy per fold: low by design, patches of a
positive slide that show nothing are still taught "positive"), history.json.

example:
  python -m training patch-classifier --slides data/synth/label-train \\
      --labels data/synth/label-train/slide-labels.csv --out runs/patch-classifier --folds 3
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    data = parser.add_argument_group("data")
    data.add_argument("--slides", type=Path, required=True, help="folder of the training slides")
    data.add_argument("--labels", type=Path, required=True, help="CSV with columns slide,label")
    data.add_argument(
        "--folds",
        type=_folds,
        default=3,
        help="folds by slide for out-of-fold probabilities, 2 or more (label-classifier is fitted on them), or "
        "'domain': one fold per scanner (default 3)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--arch", choices=ARCHITECTURES, default="resnet18", help="torchvision network (default resnet18)"
    )
    add_input_arguments(model, tile_size=296, mpp=1.0)
    add_scanner_augment_argument(model)
    train = parser.add_argument_group("training")
    add_loop_arguments(train, epochs=6, iterations=40, batch_size=16)
    add_run_arguments(train, SEEDED + ", and the folds")


def _folds(text: str) -> int | str:
    """``--folds``: a number of folds (2 or more: out-of-fold probabilities need one held out), or ``domain``."""
    if text == "domain":
        return text
    try:
        return fold_count(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"a number of folds or 'domain': {exc}") from None


def slide_folds(slides: list[LabelledSlide], folds: int | str, seed: int) -> NDArray[np.int64]:
    """Each slide's fold: dealt out by label (``folds`` a number), or one fold per domain (``"domain"``)."""
    if folds != "domain":
        return fold_of(slides, int(folds), seed)
    domains = sorted({str(s.domain) for s in slides})
    if len(domains) < 2:
        raise ConfigError(f"--folds domain needs slides from two domains (scanners) at least, got {domains}")
    return np.array([domains.index(str(s.domain)) for s in slides], dtype=np.int64)


def _no_patches(bank: PatchBank, patches: PatchOptions) -> str:
    """Why no slide gave a patch: the candidates and what the filters dropped, over all slides."""
    selections = [s.selection for s in bank.slides]
    candidates = sum(s.candidates for s in selections)
    dropped = {reason: sum(s.dropped.get(reason, 0) for s in selections) for reason in REASONS}
    why = ", ".join(f"{reason} {n}" for reason, n in dropped.items() if n)
    side_mm = patches.size * patches.mpp / 1000
    return (
        f"no patch of the {len(selections)} slides passed the filters ({patches.size} px at {patches.mpp:g} um/px: "
        f"patches {side_mm:.3g} mm a side; {candidates} candidates"
        + (f", dropped for {why}" if why else ": the slides are smaller than one patch")
        + "): check --mpp and --tile-size"
    )


def _accuracy(probabilities: list[np.ndarray], labels: list[int]) -> float:
    """The share of patches whose call (>= 0.5) is their slide's label."""
    calls = [(p >= 0.5) == bool(label) for p, label in zip(probabilities, labels, strict=True)]
    joined = np.concatenate(calls) if calls else np.zeros(0, bool)
    return float(joined.mean()) if joined.size else float("nan")


def run(args: argparse.Namespace) -> int:
    """Train the fold models and the final model, write the out-of-fold probabilities; the exit status."""
    slides = read_labelled_folder(args.slides, args.labels)
    classes = {s.label for s in slides}
    if len(classes) < 2:
        kind = "positive" if classes == {1} else "negative"
        raise ConfigError(
            f"{args.labels}: all {len(slides)} slides are {kind}; the patch classifier learns to tell positive "
            "from negative slides and needs both"
        )
    if args.smoke:
        slides = [s for s in slides if s.label == 1][:2] + [s for s in slides if s.label == 0][:2]
        args.epochs, args.iterations, args.batch_size = 1, 2, 2
        args.folds = args.folds if args.folds == "domain" else 2
    config = PatchClassifierConfig(arch=args.arch, tile_size=args.tile_size, mpp=args.mpp)
    patches = PatchOptions(size=config.tile_size, mpp=config.mpp)
    spec = fit_target(args.stain, args.stain_target, slides[0].path, args.mpp)
    augmentor = target_augmentor(args.stain, spec, args.stain_augment)
    scanner = ScannerAugment(p=args.scanner_augment) if args.scanner_augment > 0 else None
    options = PatchTrainOptions(
        epochs=args.epochs,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
    )
    bank = PatchBank(slides, patches, spec)
    counts = bank.counts()
    if not counts.sum():
        raise ConfigError(_no_patches(bank, patches))
    positive = sum(s.label for s in slides)
    print(
        f"{len(slides)} slides ({positive} positive; domains "
        f"{', '.join(sorted({str(s.domain) for s in slides}))}), {int(counts.sum())} patches "
        f"({counts.min()}-{counts.max()} per slide)"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    labels = [s.label for s in slides]
    report: dict[str, Any] = {"slides": len(slides), "patches": int(counts.sum()), "folds": []}
    history: dict[str, Any] = {}
    oof: list[np.ndarray] = [np.zeros(0, np.float32)] * len(slides)
    if args.folds == "domain" or args.folds >= 2:
        fold = slide_folds(slides, args.folds, args.seed)
        n_folds = int(fold.max()) + 1
        report["fold_by"] = "domain" if args.folds == "domain" else "slide"
        for k in range(n_folds):
            train = [i for i in range(len(slides)) if fold[i] != k]
            held = [i for i in range(len(slides)) if fold[i] == k]
            model, history[f"fold{k}"] = train_patch_classifier(
                bank, train, config, options, augmentor, desc=f"fold {k + 1}/{n_folds}", scanner=scanner
            )
            for i in held:
                oof[i] = predict_patches(model, bank.slides[i].pixels, args.device)
            accuracy = _accuracy([oof[i] for i in held], [labels[i] for i in held])
            report["folds"].append({"fold": k, "slides": len(held), "patch_accuracy": accuracy})
            print(f"fold {k + 1}/{n_folds}: out-of-fold patch accuracy {accuracy:.3f} on {len(held)} slides")
        report["oof_patch_accuracy"] = _accuracy(oof, labels)
        write_json_atomic(
            args.out / "oof-probabilities.json",
            {
                s.name: {"label": s.label, "probabilities": [round(float(p), 6) for p in oof[i]]}
                for i, s in enumerate(slides)
            },
        )
    model, history["final"] = train_patch_classifier(
        bank, range(len(slides)), config, options, augmentor, desc="all slides", scanner=scanner
    )
    command = json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str)
    save_checkpoint(
        args.out / "best.pt",
        "patch-classifier",
        config.to_dict(),
        model,
        metrics={k: v for k, v in report.items() if k != "folds"},
        extra={"stain": spec, "patches": patches.to_dict(), "command": command},
        half=True,
    )
    write_json_atomic(args.out / "report.json", report)
    write_json_atomic(args.out / "history.json", history)
    summary = (
        f"out-of-fold patch accuracy {report['oof_patch_accuracy']:.3f}; " if "oof_patch_accuracy" in report else ""
    )
    print(f"{summary}-> {args.out / 'best.pt'}")
    return 0
