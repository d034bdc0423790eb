"""Command-line options that several commands share, defined once: the job (``python -m algorithm``),
the cohort, the detector's training and scoring commands and the benchmarks; and the argument types that
check a resolution, a probability, a count or an output folder where it is typed, before any work starts."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from algorithm.engine.views import MIRRORS
from algorithm.slide.base import PLAUSIBLE_MPP, plausible_mpp

JOB_VIEWS = (
    "instead of the checkpoint's (default: its own, which its threshold was chosen with; the bundled detector's 4: "
    "one view runs 3-3.4x faster on a CPU (16 and 2 cores) and makes several times the false calls on a softer "
    "scanner, models/MODEL_CARD.md)"
)


def add_views_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = JOB_VIEWS) -> None:
    """``--views 1|2|4``: the detector's test-time views (:mod:`algorithm.engine.views`), one option for the job,
    the cohort, the training commands and the benchmarks; ``what``: what the number does in this command, its
    default included."""
    parser.add_argument(
        "--views",
        type=int,
        choices=tuple(MIRRORS),
        help="the mitotic-figure detector's test-time views: 1 (the tile), 2 (and mirrored), 4 (and upside down, "
        "both), their calls fused (a call seen in one view keeps 1/views of its score; views times the network's "
        f"work); {what}",
    )


def microns_per_pixel(text: str) -> float:
    """argparse type: a resolution in microns per pixel, within what microscopy gives (``PLAUSIBLE_MPP``)."""
    value = finite_number(text)
    if not plausible_mpp(value):
        lo, hi = PLAUSIBLE_MPP
        raise argparse.ArgumentTypeError(f"microns per pixel between {lo:g} and {hi:g} (40x: about 0.25), got {text}")
    return value


def probability(text: str) -> float:
    """argparse type: a number in [0, 1] (a decision threshold)."""
    value = finite_number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability in [0, 1], got {text}")
    return value


def whole_number(text: str) -> int:
    """argparse type: any whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (a batch size, a count of threads or workers, a size in pixels)."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, got {text}")
    return value


def output_folder(text: str) -> Path:
    """argparse type: a folder to write into, made if absent; refused before any work when it cannot be: a file
    at the path or above it, or a folder this process may not write in."""
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text}: no permission to write in this folder")
        return path
    above = next(parent for parent in path.absolute().parents if parent.exists())
    if not above.is_dir():
        raise argparse.ArgumentTypeError(f"{text} cannot be made: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be made: no permission to write in {above}")
    return path


def finite_number(text: str) -> float:
    """argparse type: any finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a finite number, got {text}")
    return value
