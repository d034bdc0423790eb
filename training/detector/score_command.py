"""``python -m training detector-score``: held-out F1 of a detector checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from algorithm.models import load_detector
from training.datasets import read_synthetic_folder
from training.detector.validate import detect_validation_slides, score_slides

NAME = "detector-score"
HELP = "score a detector checkpoint on held-out slides (F1 at 7.5 um, per domain)"
DESCRIPTION = """\
Run a detector checkpoint over whole slides exactly as the container does
(tissue, per-slide stain normalisation to the checkpoint's target, tiles, NMS)
and score it against the slides' truth with evalutils' score_detection at
MIDOG's radius, at the checkpoint's validated threshold (or --threshold).
Prints one JSON object: overall and per-domain precision, recall, F1.

example:
  python -m training detector-score --model models/detector.pt --slides data/synth/test
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument("--model", type=Path, required=True, help="detector checkpoint (.pt)")
    parser.add_argument("--slides", type=Path, nargs="+", required=True, help="folders of synthetic slides")
    parser.add_argument("--threshold", type=float, help="decision threshold (default: the checkpoint's)")
    parser.add_argument("--radius-um", type=float, default=7.5, help="matching radius (default 7.5, MIDOG's)")
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    """Score a detector checkpoint on slides with the container's own detection code; the exit status."""
    slides = [s for folder in args.slides for s in read_synthetic_folder(folder)]
    device = torch.device(args.device)
    model, config, checkpoint = load_detector(args.model, device)
    threshold = args.threshold if args.threshold is not None else float(checkpoint.get("threshold", 0.5))
    found = detect_validation_slides(model, config, slides, device, checkpoint.get("stain"))
    report = {
        "model": str(args.model),
        "threshold": threshold,
        "radius_um": args.radius_um,
        "overall": score_slides(found, slides, threshold, args.radius_um).as_dict(),
        "domains": {},
    }
    for domain in sorted({str(s.domain) for s in slides}):
        pairs = [(f, s) for f, s in zip(found, slides, strict=True) if str(s.domain) == domain]
        score = score_slides([f for f, _ in pairs], [s for _, s in pairs], threshold, args.radius_um)
        report["domains"][domain] = {"slides": len(pairs), **score.as_dict()}
    print(json.dumps(report, indent=2))
    return 0
