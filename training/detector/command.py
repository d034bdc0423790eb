"""``python -m training detector``: train the mitotic-figure detector."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from algorithm.errors import ConfigError
from algorithm.models.detector import ARCHITECTURES, DetectorConfig
from training.arguments import add_input_arguments, add_loop_arguments, add_run_arguments
from training.datasets import SlideAnnotations, read_midog_database, read_midog_split, read_synthetic_folder
from training.datasets.midog import apply_midog_split
from training.detector.train import TrainOptions, train_detector
from training.stain_target import fit_target, stain_augment

NAME = "detector"
HELP = "train the RetinaNet mitotic-figure detector"
DESCRIPTION = """\
Train a RetinaNet on MIDOG-format annotations and keep the checkpoint with the
best validation F1 at 7.5 um (matched as MIDOG's evaluation matches).

Data: folders of synthetic slides (--train/--valid, from `python -m training
synth`), or MIDOG's database (--midog-db MIDOG.json --images DIR [--split
train_val_split.txt]; without a split file, --valid-domains picks the held-out
scanners).

Patches: half centred (with jitter) on a mitotic figure, some on imposters
(hard negatives), the rest anywhere in tissue; domain-balanced; flips and
rotations; each slide stain-normalised to one target (saved in the
checkpoint, used by the container) plus stain augmentation.

Writes to --out: best.pt (load it with python -m algorithm --model-dir, after
renaming to detector.pt), last.pt (for --resume), history.json.

examples:
  python -m training detector --train data/synth/train --valid data/synth/valid --out runs/detector
  python -m training detector --smoke --train data/synth/train --out /tmp/smoke
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    data = parser.add_argument_group("data")
    data.add_argument("--train", type=Path, nargs="+", default=[], help="folders of synthetic slides to train on")
    data.add_argument("--valid", type=Path, nargs="*", default=[], help="folders of synthetic slides to validate on")
    data.add_argument("--midog-db", type=Path, help="a MIDOG-format database (MIDOG.json)")
    data.add_argument("--images", type=Path, help="the folder holding the database's images")
    data.add_argument("--split", type=Path, help="MIDOG's train_val_split.txt")
    model = parser.add_argument_group("model")
    model.add_argument("--arch", choices=ARCHITECTURES, default="resnet18")
    model.add_argument("--fpn-channels", type=int, default=64)
    add_input_arguments(model, tile_size=256, mpp=0.5)
    train = parser.add_argument_group("training")
    add_loop_arguments(train)
    train.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    add_run_arguments(train)
    train.add_argument("--resume", action="store_true", help="continue from --out/last.pt")


def _load(args: argparse.Namespace) -> tuple[list[SlideAnnotations], list[SlideAnnotations]]:
    if args.midog_db:
        slides = read_midog_database(args.midog_db, args.images)
        slides = [s for s in slides if len(s.points)]
        if args.split:
            apply_midog_split(slides, read_midog_split(args.split))
        missing = [s.file_name for s in slides if s.path is None or not s.path.is_file()]
        if missing:
            raise ConfigError(
                f"{args.images or args.midog_db.parent}: {len(missing)} images of the database are "
                f"missing (e.g. {missing[0]})"
            )
        return [s for s in slides if s.split != "valid"], [s for s in slides if s.split == "valid"]
    if not args.train:
        raise ConfigError("give --train folders or --midog-db")
    train = [s for folder in args.train for s in read_synthetic_folder(folder)]
    valid = [s for folder in args.valid for s in read_synthetic_folder(folder)]
    return train, valid


def run(args: argparse.Namespace) -> int:
    """Train a detector on the slides given and save the checkpoint; the exit status."""
    train, valid = _load(args)
    if args.smoke:
        train, valid = train[:2], valid[:1]
        args.epochs, args.iterations, args.batch_size = 1, 2, 2
    config = DetectorConfig(arch=args.arch, fpn_channels=args.fpn_channels, tile_size=args.tile_size, mpp=args.mpp)
    spec = fit_target(args.stain, args.stain_target, train[0].slide_path, args.mpp)
    options = TrainOptions(
        epochs=args.epochs,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        device=args.device,
        warmup=min(50, args.epochs * args.iterations // 10 + 1),
    )
    domains = sorted({str(s.domain) for s in train})
    print(f"training on {len(train)} slides (domains {', '.join(domains)}), validating on {len(valid)}")
    command = json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str)
    best = train_detector(
        train,
        valid,
        config,
        options,
        args.out,
        stain=spec,
        patch_augment=stain_augment(args.stain, spec, args.stain_augment),
        resume=args.resume,
        extra={"command": command},
    )
    print(f"best: {json.dumps(best)}  ->  {args.out / 'best.pt'}")
    return 0
