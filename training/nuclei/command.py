"""``python -m training nuclei``: train the nuclei U-Net, cross-validated by image."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from algorithm.errors import ConfigError
from algorithm.io.atomic import write_json_atomic
from algorithm.models import UNetConfig
from algorithm.options import microns_per_pixel, output_folder, positive_int
from training.arguments import (
    add_device_argument,
    add_seed_argument,
    add_stain_augment_argument,
    fold_count,
    non_negative_float,
)
from training.datasets.pictures import as_tiff
from training.nuclei.data import NucleiPair, find_pairs, load_image
from training.nuclei.score import NucleiScore, pooled, score_model
from training.nuclei.train import NucleiTrainOptions, train_nuclei
from training.stain_target import fit_target, stain_augment, transform_factory

logger = logging.getLogger(__name__)

NAME = "nuclei"
HELP = "train the nuclei U-Net (cross-validated by image)"
DESCRIPTION = """\
Train the nuclei segmenter (a small U-Net at 0.5 um/px) on images with binary
nuclei masks, as the nuclei thesis in our sources did (U-Net, IoU and Dice),
and score it on the images it did not see, through the container's own
inference (tiling, stain normalisation, blending, the mask on the image's
grid).

Data: --images DIR and --masks DIR, pairs by file stem (PNG, JPEG or TIFF;
masks foreground where at least half their range); --add DIR gives more
training pairs for every fold, never scored (synthetic slides written with
`python -m training synth --nuclei-masks`). Images without resolution
tags are taken at --image-mpp (MoNuSeg's 40x: 0.25 um/px) and written once as
lossless TIFFs into --out/images. Each image is stain-normalised to one target
(fitted to the first training image, saved in the checkpoint), then stain
augmentation, flips and rotations.

Cross-validation by image: --folds K deals the images out into K folds
(seeded); --fold I trains on all but fold I and scores fold I; --fold all runs
every fold, so every image is scored once by a model that never saw it, and
reports IoU and Dice per image and pooled (all pixels of all held-out images),
and the instance count (connected components) against the truth's; --fold none
trains one model on every image (the model to bundle: --fold all's pooled score
is its recipe's estimate) and scores nothing.

A fold whose model.pt exists is scored, not trained again. Writes to --out:
fold-I/model.pt (copy one to nuclei.pt for python -m algorithm),
fold-I/scores.json, and with --fold all, report.json (per image, pooled);
with --fold none, all/model.pt.

--score MODEL trains nothing and scores a checkpoint (e.g. a fold's model.pt;
the bundled models/nuclei.pt saw every MoNuSeg image) on every image it was not
trained on.

examples:
  python -m training nuclei --images ../shared/data/nuclei/monuseg/images \\
      --masks ../shared/data/nuclei/monuseg/masks --folds 5 --fold all --out runs/nuclei
  python -m training nuclei --images ../shared/data/nuclei/monuseg/images \\
      --masks ../shared/data/nuclei/monuseg/masks --fold none --out runs/nuclei
  python -m training nuclei --images imgs/ --masks masks/ --folds 5 --fold 0 --steps 200 --out runs/nuclei
  python -m training nuclei --images imgs/ --masks masks/ --score runs/nuclei/fold-0/model.pt --out runs/fold-0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    data = parser.add_argument_group("data")
    data.add_argument("--images", type=Path, required=True, help="folder of H&E images")
    data.add_argument("--masks", type=Path, required=True, help="folder of their nuclei masks (same stems)")
    data.add_argument(
        "--add",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders of more training pairs in every fold, never scored (e.g. synthetic slides made with "
        "`synth --nuclei-masks`: <stem>.tiff beside <stem>.nuclei-mask.tiff)",
    )
    data.add_argument(
        "--image-mpp", type=microns_per_pixel, default=0.25, help="um/px of images without tags (default 0.25)"
    )
    data.add_argument(
        "--folds", type=fold_count, default=5, help="cross-validation folds by image, 2 or more (default 5)"
    )
    data.add_argument(
        "--fold",
        default="all",
        help="the fold to hold out, 'all' (each in turn; default) or 'none' (one model on every image, not scored)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--widths",
        type=_widths,
        default="16,32,64,128",
        help="U-Net channels per level, two levels or more (default 16,32,64,128)",
    )
    model.add_argument(
        "--tile-size",
        type=positive_int,
        default=256,
        help="tile size the job runs, a multiple of 2^(levels - 1) (default 256)",
    )
    model.add_argument(
        "--mpp", type=microns_per_pixel, default=0.5, help="microns per pixel the model sees (default 0.5)"
    )
    model.add_argument(
        "--stain",
        choices=("macenko", "vahadane", "reinhard", "none"),
        default="macenko",
        help="stain normalisation, to a target fitted on the first training image (default macenko)",
    )
    add_stain_augment_argument(model)
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=positive_int, default=1200, help="optimiser steps per fold (default 1200)")
    train.add_argument("--batch-size", type=positive_int, default=8, help="crops per optimiser step (default 8)")
    train.add_argument(
        "--crop",
        type=positive_int,
        default=192,
        help="training crop size in model pixels, a multiple of 2^(levels - 1) of at least twice that (default 192)",
    )
    train.add_argument(
        "--lr", type=non_negative_float, default=3e-3, help="peak of the one-cycle learning rate (default 3e-3)"
    )
    add_seed_argument(train, "the folds, the initial weights, the crops drawn and their augmentation")
    add_device_argument(train)
    train.add_argument("--out", type=output_folder, required=True, help="run folder")
    train.add_argument("--smoke", action="store_true", help="a few steps on small crops (tests)")
    parser.add_argument(
        "--score",
        type=Path,
        metavar="MODEL",
        help="train nothing: score this checkpoint on every image it was not trained on (its checkpoint "
        "lists them), e.g. a fold's model.pt",
    )


def _widths(text: str) -> tuple[int, ...]:
    """``--widths``: the U-Net's channels per level, finest first, e.g. 16,32,64,128."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"channels per level as whole numbers, e.g. 16,32,64,128, got {text!r}"
        ) from None
    if len(widths) < 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"two levels or more, each of 1 channel or more, got {text!r}")
    return widths


SMOKE_CROP = 64  # --smoke's training crops


def check_arguments(args: argparse.Namespace) -> None:
    """What the options allow together, before any image is read (``training/cli.py`` makes a ConfigError a usage
    error): the U-Net's tile size and training crop against its levels, --fold against --folds."""
    levels = len(args.widths)
    stride = 2 ** (levels - 1)  # the U-Net halves its input levels - 1 times and doubles it back
    if args.tile_size % stride:
        raise ConfigError(
            f"--tile-size {args.tile_size}: a U-Net of {levels} levels (--widths) needs a multiple of {stride} pixels"
        )
    crop = SMOKE_CROP if args.smoke else args.crop
    if crop % stride or crop < 2 * stride:  # at least 2 x 2 pixels at the coarsest level, for its BatchNorm
        which = f"--smoke's crop {SMOKE_CROP}" if args.smoke else f"--crop {crop}"
        raise ConfigError(
            f"{which}: a U-Net of {levels} levels (--widths) needs a multiple of {stride} pixels of at least "
            f"{2 * stride}"
        )
    if args.score is None:
        _folds(args.fold, args.folds)


def fold_of(pairs: list[NucleiPair], folds: int, seed: int) -> list[int]:
    """Each image's fold: a seeded shuffle dealt out round-robin (fold sizes differ by at most one)."""
    if folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs 2 folds or more")
    if folds > len(pairs):
        raise ConfigError(
            f"--folds {folds}: more folds than the {len(pairs)} images with a mask (each fold holds one image or more)"
        )
    order = np.random.default_rng(seed).permutation(len(pairs))
    assigned = [0] * len(pairs)
    for position, i in enumerate(order):
        assigned[int(i)] = position % folds
    return assigned


def _folds(value: str, folds: int) -> list[int | None]:
    """The folds to hold out in turn; None: none (one model trained on every image)."""
    if value == "all":
        return list(range(folds))
    if value == "none":
        return [None]
    try:
        fold = int(value)
    except ValueError as exc:
        raise ConfigError(f"--fold {value!r}: a number below --folds, 'all' or 'none'") from exc
    if not 0 <= fold < folds:
        raise ConfigError(f"--fold {fold}: must be below --folds {folds}")
    return [fold]


def score_checkpoint(model: Path, pairs: list[NucleiPair], args: argparse.Namespace) -> int:
    """``--score``: the checkpoint on the pairs it was not trained on; scores.json in --out."""
    from algorithm.models.checkpoint import read_checkpoint

    trained = set(read_checkpoint(model, "nuclei").get("training_images", []))
    held = [p for p in pairs if p.name not in trained]
    if not held:
        raise ConfigError(f"{model}: was trained on every image in {args.images}; nothing left to score")
    scores = score_model(model, held, args.image_mpp, args.out / "images", args.device)
    for s in scores:
        print(f"  {s.line()}")
    total = pooled(scores)
    print(f"{model}: {len(scores)} images it never saw: {total.line()}")
    report = {"model": str(model), "pooled": total.as_dict(), "images": [s.as_dict() for s in scores]}
    write_json_atomic(args.out / "scores.json", report)
    return 0


def run(args: argparse.Namespace) -> int:
    """Train (and score) the requested folds, or score one checkpoint (``--score``); the exit status."""
    pairs = find_pairs(args.images, args.masks)
    if args.score is not None:
        return score_checkpoint(args.score, pairs, args)
    added = [pair for folder in args.add for pair in find_pairs(folder, folder)]
    assigned = fold_of(pairs, args.folds, args.seed)
    config = UNetConfig(widths=args.widths, tile_size=args.tile_size, mpp=args.mpp)
    options = NucleiTrainOptions(
        steps=2 if args.smoke else args.steps,
        batch_size=2 if args.smoke else args.batch_size,
        crop=64 if args.smoke else args.crop,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
    )
    command = json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str)
    scores: list[NucleiScore] = []
    for fold in _folds(args.fold, args.folds):
        train_pairs = [p for p, f in zip(pairs, assigned, strict=True) if f != fold] + added
        held = [p for p, f in zip(pairs, assigned, strict=True) if f == fold]
        out = args.out / ("all" if fold is None else f"fold-{fold}")
        name = "all images" if fold is None else f"fold {fold}"
        images_dir = args.out / "images"
        spec = fit_target(args.stain, None, as_tiff(train_pairs[0].image, args.image_mpp, images_dir), config.mpp)
        normalise = transform_factory(spec, config.mpp)
        images = [load_image(p, config.mpp, args.image_mpp, images_dir, normalise) for p in train_pairs]
        scoring = ", ".join(p.name for p in held) or "none"
        print(f"{name}: training on {len(images)} images ({len(added)} added), scoring {scoring}")
        extra = {"command": command, "fold": fold, "training_images": [p.name for p in train_pairs]}
        if (out / "model.pt").exists() and not args.smoke:
            print(f"{name}: {out / 'model.pt'} exists, not trained again (delete it to retrain)")
        else:
            augment = stain_augment(args.stain, spec, args.stain_augment)
            train_nuclei(images, config, options, out, spec, augment, extra)
        if fold is None:
            print(f"{out / 'model.pt'}: trained on every image, none left to score (--fold all: the recipe's score)")
            continue
        fold_scores = score_model(out / "model.pt", held, args.image_mpp, images_dir, args.device)
        write_json_atomic(out / "scores.json", {"fold": fold, "images": [s.as_dict() for s in fold_scores]})
        for s in fold_scores:
            print(f"  {s.line()}")
        scores += fold_scores
    if not scores:
        return 0
    total = pooled(scores)
    print(f"held-out {len(scores)} images: {total.line()}")
    if args.fold == "all":
        report = {"pooled": total.as_dict(), "images": [s.as_dict() for s in scores], "command": command}
        write_json_atomic(args.out / "report.json", report)
    return 0
