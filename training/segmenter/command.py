"""``python -m training segmenter``: train the tumour segmenter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from algorithm.models.segmenter import ARCHITECTURES, SegmenterConfig
from training.arguments import SEEDED, add_input_arguments, add_loop_arguments, add_run_arguments, fold_count
from training.datasets.tumour import read_tumour_folder
from training.folds import fold_split
from training.segmenter.train import SegmenterTrainOptions, train_segmenter
from training.stain_target import fit_target, stain_augment

NAME = "segmenter"
HELP = "train the FPN tumour segmenter (heatmaps)"
DESCRIPTION = """\
Train a ResNet + FPN tumour segmenter on slides with tumour masks, with
HeLP 2019's recipe: BCE + Jaccard loss, flips and rotations, learning rate
halved when the validation IoU stops improving. Keeps the checkpoint with the
best validation IoU of whole-slide heatmaps, made as the container makes them.

Data: folders of slides, each with a tumour mask image covering the slide
(<stem>.tumour-mask.png as `python -m training synth` writes, <stem>.mask.png
or <stem>.png; beside the slides or under --masks). Patches are
domain-balanced (scanner from synthetic truth files), half of those on tumour
slides centred in tumour; each slide is stain-normalised to one target (saved
in the checkpoint, used by the container) plus stain augmentation.

Cross-validation as HeLP's winner did it: --folds K --fold I splits the
--train slides into K folds (by slide, tumour and normal slides spread evenly,
seeded) and trains on all but fold I, which validates; run I = 0..K-1 for the
K models and their scores.

Writes to --out: best.pt (copy it to segmenter.pt for python -m algorithm),
last.pt, history.json, report.json (the best epoch and its IoU per
validation slide).

examples:
  python -m training segmenter --train data/synth/train --valid data/synth/valid --out runs/segmenter
  python -m training segmenter --train slides/ --masks masks/ --valid val/ --valid-masks val-masks/ --out runs/seg
  python -m training segmenter --train data/synth/train --folds 4 --fold 0 --out runs/segmenter-fold0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    data = parser.add_argument_group("data")
    data.add_argument("--train", type=Path, nargs="+", required=True, help="folders of slides with tumour masks")
    data.add_argument("--masks", type=Path, help="folder of the training slides' masks (default: beside them)")
    data.add_argument("--valid", type=Path, nargs="*", default=[], help="folders of validation slides")
    data.add_argument("--valid-masks", type=Path, help="folder of the validation slides' masks")
    data.add_argument("--folds", type=fold_count, help="split the training slides into this many folds (2 or more) ...")
    data.add_argument("--fold", type=int, default=0, help="... and validate on this one (default 0)")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default="resnet18",
        help="encoder, trained from random weights (HeLP used resnet34) (default resnet18)",
    )
    model.add_argument("--stages", default="1,2,3", help="ResNet stages feeding the FPN (default 1,2,3)")
    model.add_argument("--fpn-channels", type=int, default=64, help="channels of the feature pyramid (default 64)")
    add_input_arguments(model, tile_size=256, mpp=2.0)
    train = parser.add_argument_group("training")
    add_loop_arguments(train)
    train.add_argument(
        "--patience",
        type=int,
        default=2,
        help="epochs without a better validation IoU before the learning rate halves (default 2)",
    )
    add_run_arguments(train, SEEDED + ", and the folds (--folds)")


def run(args: argparse.Namespace) -> int:
    """Train a tumour segmenter on slides with masks and save the checkpoint; the exit status."""
    train = [s for folder in args.train for s in read_tumour_folder(folder, args.masks)]
    valid = [s for folder in args.valid for s in read_tumour_folder(folder, args.valid_masks)]
    if args.folds is not None:
        train, held = fold_split(train, args.folds, args.fold, args.seed)
        valid = held + valid
    if args.smoke:
        train, valid = train[:2], valid[:1]
        args.epochs, args.iterations, args.batch_size = 1, 2, 2
    config = SegmenterConfig(
        arch=args.arch,
        stages=tuple(int(s) for s in args.stages.split(",")),
        fpn_channels=args.fpn_channels,
        tile_size=args.tile_size,
        mpp=args.mpp,
    )
    spec = fit_target(args.stain, args.stain_target, train[0].path, args.mpp)
    options = SegmenterTrainOptions(
        epochs=args.epochs,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        plateau_patience=args.patience,
        seed=args.seed,
        device=args.device,
    )
    tumour = sum(s.label for s in train)
    domains = sorted({str(s.domain) for s in train})
    print(
        f"training on {len(train)} slides ({tumour} with tumour; domains {', '.join(domains)}), "
        f"validating on {len(valid)}"
    )
    command = json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str)
    best = train_segmenter(
        train,
        valid,
        config,
        options,
        args.out,
        spec,
        stain_augment(args.stain, spec, args.stain_augment),
        extra={"threshold": 0.5, "command": command},
    )
    print(f"best: {json.dumps(best)}  ->  {args.out / 'best.pt'}")
    return 0
