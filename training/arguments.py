"""Command-line options the training commands share, so they read and behave alike."""

from __future__ import annotations

import argparse
from pathlib import Path

from algorithm.options import microns_per_pixel


def parse_range(text: str) -> tuple[float, float] | None:
    """An option's 'LO:HI', or one number D as (D, D); None when the text is neither (bounds are the caller's)."""
    parts = text.split(":")
    if len(parts) > 2:
        return None
    try:
        return float(parts[0]), float(parts[-1])
    except ValueError:
        return None


def add_input_arguments(model: argparse._ArgumentGroup, tile_size: int, mpp: float) -> None:
    """What the model sees: tile size, resolution, and the stain normalisation and augmentation."""
    model.add_argument(
        "--tile-size", type=int, default=tile_size, help=f"tile size the model sees (default {tile_size})"
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
    model.add_argument("--stain-augment", type=float, default=0.2, help="stain augmentation sigma, 0 to disable")


def add_scanner_augment_argument(model: argparse._ArgumentGroup) -> None:
    """``--scanner-augment P``: other scanners' optics and compression (training.scanner_augment)."""
    model.add_argument(
        "--scanner-augment",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of each of blur, JPEG and noise per patch (other scanners' optics), 0 to disable (default 0)",
    )


def add_loop_arguments(train: argparse._ArgumentGroup) -> None:
    """The training loop's length and optimiser step."""
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--iterations", type=int, default=100, help="iterations per epoch")
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=1e-3)


def add_run_arguments(train: argparse._ArgumentGroup) -> None:
    """Seed, device, output folder and the smoke switch."""
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    train.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and history")
    train.add_argument("--smoke", action="store_true", help="a few iterations on the first slides (tests)")
