"""``python -m training detector-soup``: average fine-tuned detectors into one and choose its threshold."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from algorithm.errors import ConfigError
from algorithm.models import build_detector, save_checkpoint
from algorithm.options import add_views_argument
from training.arguments import add_device_argument, output_file
from training.datasets import read_synthetic_folder
from training.detector.soup import average_state, read_ingredients
from training.detector.validate import slides_tissue_mm2, validate_detector, validation_record

NAME = "detector-soup"
HELP = "average fine-tuned detector checkpoints into one (a model soup), its threshold chosen on validation slides"
DESCRIPTION = """\
A model soup: the weights of several fine-tunes of one detector (other seeds,
other options, one parent) averaged into one detector, which costs what one
costs at inference and often beats each of them, above all on data unlike
their training data (Wortsman et al. 2022). The checkpoints must be one
architecture trained to one stain target.

The soup's decision threshold is chosen on --valid as training chooses it (the
best F1 at --valid-density figures per mm^2 of tissue, default the slides' own),
with the container's own detection and the test-time views of --views
(default the ingredients'). The checkpoint written to --out records
the ingredients (file, sha256, their own validation F1 and threshold), the
validation slides and the soup's scores there; load it with python -m
algorithm --model-dir after renaming it to detector.pt.

example (models/train_detector.sh):
  python -m training detector-soup --models runs/detector-v1/best.pt runs/detector-v1-b/best.pt \\
      runs/detector-v1-c/best.pt --valid data/synth/valid-real-density --out runs/detector-v1-soup/best.pt
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument(
        "--models", type=Path, nargs="+", required=True, metavar="PT", help="two or more detector checkpoints"
    )
    parser.add_argument(
        "--valid", type=Path, nargs="+", required=True, metavar="DIR", help="folders of synthetic slides"
    )
    parser.add_argument(
        "--valid-density",
        type=float,
        default=0.0,
        metavar="PER_MM2",
        help="mitotic figures per mm^2 of tissue the threshold is chosen at (default 0: the slides' own)",
    )
    add_views_argument(
        parser, "the soup's, recorded in its config, its threshold chosen with them (default: the ingredients')"
    )
    add_device_argument(parser, ": where the validation detection runs")
    parser.add_argument("--out", type=output_file, required=True, metavar="PT", help="the soup's checkpoint")


def run(args: argparse.Namespace) -> int:
    """Average the checkpoints, choose the threshold on the validation slides, write the soup."""
    if args.valid_density < 0:
        raise ConfigError(f"--valid-density must be 0 (the slides' own) or more, got {args.valid_density:g}")
    ingredients = read_ingredients(args.models)
    slides = [s for folder in args.valid for s in read_synthetic_folder(folder)]  # each holds slides, or fails
    first = ingredients[0]
    config = first.config.with_views(args.views)
    model = build_detector(config)
    model.load_state_dict(average_state([i.state for i in ingredients]))
    device = torch.device(args.device)
    model = model.to(device).eval()
    stain = first.checkpoint.get("stain")
    density = args.valid_density or None
    areas = slides_tissue_mm2(slides)
    metrics = validate_detector(model, config, slides, areas, density, device, stain)
    record = [i.record() for i in ingredients]
    save_checkpoint(
        args.out,
        "detector",
        config.to_dict(),
        model,
        metrics=metrics,
        extra={
            "stain": stain,
            "validation": validation_record(slides, areas, density),
            "threshold": metrics["threshold"],
            "soup": record,
            "command": json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str),
        },
    )
    for r in record:
        own = "" if r["f1"] is None else f"F1 {r['f1']:.3f} at {r['threshold']} on its own validation, "
        print(f"  {r['file']}: {own}sha256 {r['sha256'][:12]}")
    m = metrics
    per_scanner = ", ".join(f"{d} {v['f1']:.3f}" for d, v in m["domains"].items())
    views = "" if config.views == 1 else f" ({config.views} views)"
    print(
        f"soup of {len(ingredients)}{views}: F1 {m['f1']:.3f} at threshold {m['threshold']} on {len(slides)} "
        f"slides ({m['tp']} / {m['fp']} / {m['fn']}; {per_scanner}) -> {args.out}"
    )
    return 0
