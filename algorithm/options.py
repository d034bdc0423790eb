"""Command-line options that several commands share, defined once: the job (``python -m algorithm``),
the cohort, the detector's training and scoring commands and the benchmarks."""

from __future__ import annotations

import argparse

from algorithm.engine.views import MIRRORS

JOB_VIEWS = (
    "instead of the checkpoint's (default: its own, which its threshold was chosen with; the bundled detector's 4: "
    "one view runs about 3.4x faster on a CPU and makes several times the false calls on a softer scanner, "
    "models/MODEL_CARD.md)"
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
