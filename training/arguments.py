"""Command-line options the training commands share, so they read and behave alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from algorithm.device import resolve_device
from algorithm.errors import ConfigError
from algorithm.options import (
    finite_number,
    microns_per_pixel,
    output_folder,
    positive_int,
    probability,
    whole_number,
)

DETECTOR_TILE_STEP = 32  # torchvision's RetinaNet pads its input to multiples of 32 (its coarsest stride's)
DETECTOR_MIN_TILE = 64  # two of those: the largest anchors (128 px) still overlap the tile


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (a learning rate, a radius)."""
    value = finite_number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a number above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number, 0 or more (a density, an augmentation strength)."""
    value = finite_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"0 or more, got {text}")
    return value


def at_least(lowest: int, why: str) -> Callable[[str], int]:
    """argparse type: a whole number >= ``lowest``; ``why`` ends the message (e.g. k-fold's need of two folds)."""

    def parse(text: str) -> int:
        value = whole_number(text)
        if value < lowest:
            raise argparse.ArgumentTypeError(f"at least {lowest} ({why}), got {text}")
        return value

    return parse


fold_count = at_least(2, "cross-validation holds out one fold and trains on the others")


def detector_tile_size(text: str) -> int:
    """argparse type: the detector's tile side in pixels, a multiple of 32 and at least 64 (the network's
    strides and anchors)."""
    value = positive_int(text)
    if value % DETECTOR_TILE_STEP or value < DETECTOR_MIN_TILE:
        raise argparse.ArgumentTypeError(
            f"a multiple of {DETECTOR_TILE_STEP} pixels of at least {DETECTOR_MIN_TILE} (the detector's strides "
            f"and anchors), got {text}"
        )
    return value


def compute_device(text: str) -> str:
    """argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``, usable on this machine (algorithm.device's
    rule); the device's name, ``auto`` resolved."""
    try:
        return str(resolve_device(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_file(text: str) -> Path:
    """argparse type: a file to write (a report, a model), refused before any work when it cannot be: a folder at
    the path, or a folder above it that cannot be made or written in."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give the name of a file to write")
    try:
        output_folder(str(path.parent))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text} cannot be written: {exc}") from None
    return path


def add_device_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "") -> None:
    """``--device``: where the networks run, checked as it is typed (an unknown name, CUDA absent)."""
    parser.add_argument(
        "--device",
        type=compute_device,
        default="cpu",
        help=f"cpu, cuda, cuda:N or auto (CUDA when usable){what} (default cpu)",
    )


def parse_range(text: str) -> tuple[float, float] | None:
    """An option's 'LO:HI', or one number D as (D, D); None when the text is neither (bounds are the caller's)."""
    parts = text.split(":")
    if len(parts) > 2:
        return None
    try:
        return float(parts[0]), float(parts[-1])
    except ValueError:
        return None


def add_input_arguments(
    model: argparse._ArgumentGroup,
    tile_size: int,
    mpp: float,
    tile_type: Callable[[str], int] = positive_int,
    tile_help: str = "",
) -> None:
    """What the model sees: tile size (``tile_type`` checks it), resolution, and the stain normalisation and
    augmentation."""
    model.add_argument(
        "--tile-size",
        type=tile_type,
        default=tile_size,
        help=f"tile size the model sees{tile_help} (default {tile_size})",
    )
    model.add_argument(
        "--mpp", type=microns_per_pixel, default=mpp, help=f"microns per pixel the model sees (default {mpp:g})"
    )
    model.add_argument(
        "--stain",
        choices=("macenko", "vahadane", "reinhard", "none"),
        default="macenko",
        help="stain normalisation (default macenko)",
    )
    model.add_argument("--stain-target", type=Path, help="target image (default: the first training slide's tissue)")
    add_stain_augment_argument(model)


def add_stain_augment_argument(model: argparse._ArgumentGroup) -> None:
    """``--stain-augment SIGMA``: random changes of each stain's amount per patch, in the normalised stains
    (training.stain_target.target_augmentor: macenko and vahadane only)."""
    model.add_argument(
        "--stain-augment",
        type=non_negative_float,
        default=0.2,
        metavar="SIGMA",
        help="stain augmentation sigma (with --stain macenko or vahadane), 0 to disable (default 0.2)",
    )


def add_scanner_augment_argument(model: argparse._ArgumentGroup) -> None:
    """``--scanner-augment P``: other scanners' optics and compression (training.scanner_augment)."""
    model.add_argument(
        "--scanner-augment",
        type=probability,
        default=0.0,
        metavar="P",
        help="probability of each of blur, JPEG and noise per patch (other scanners' optics), 0 to disable (default 0)",
    )


def add_loop_arguments(
    train: argparse._ArgumentGroup, epochs: int = 10, iterations: int = 100, batch_size: int = 8
) -> None:
    """The training loop's length and optimiser step; the defaults are the command's own."""
    train.add_argument(
        "--epochs",
        type=positive_int,
        default=epochs,
        help=f"epochs of --iterations batches each (default {epochs})",
    )
    train.add_argument(
        "--iterations", type=positive_int, default=iterations, help=f"batches per epoch (default {iterations})"
    )
    train.add_argument(
        "--batch-size", type=positive_int, default=batch_size, help=f"patches per batch (default {batch_size})"
    )
    train.add_argument(
        "--lr",
        type=non_negative_float,
        default=1e-3,
        help="learning rate; 0: the weights stay, batch norm adapts (default 1e-3)",
    )


SEEDED = "the initial weights, the patches drawn and their augmentation"  # what every training loop's seed draws


def add_run_arguments(train: argparse._ArgumentGroup, seeded: str = SEEDED) -> None:
    """Seed (``seeded``: what it draws), device, output folder and the smoke switch."""
    add_seed_argument(train, seeded)
    add_device_argument(train)
    train.add_argument("--out", type=output_folder, required=True, help="run folder for checkpoints and history")
    train.add_argument("--smoke", action="store_true", help="a few iterations on the first slides (tests)")


def add_seed_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """``--seed``: the one seed of a command's random choices, ``what`` naming them."""
    parser.add_argument("--seed", type=int, default=0, help=f"random seed of {what} (default 0)")
