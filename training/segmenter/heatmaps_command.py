"""``python -m training heatmaps``: run a segmenter over slides and write their heatmaps."""

from __future__ import annotations

import argparse
from pathlib import Path

from algorithm.device import resolve_device
from algorithm.errors import ConfigError
from algorithm.io.atomic import all_or_nothing, write_json_atomic
from algorithm.models import load_segmenter
from algorithm.options import output_folder
from algorithm.segmentation.files import write_heatmap_tiff
from training.arguments import add_device_argument
from training.datasets.tumour import read_tumour_folder, write_labels_csv
from training.segmenter.validate import IoUScore, heatmaps_of, score_heatmap

NAME = "heatmaps"
HELP = "write tumour heatmaps of slides (for the slide classifier) and score them against masks"
DESCRIPTION = """\
Run a trained segmenter over every slide of the given folders, exactly as the
container does (tissue tiles, per-slide stain normalisation, overlapping tiles
averaged), and write into --out:

  <slide>.heatmap.tiff   page 0: float32 tumour probability; page 1: tissue mask;
                         resolution tags (read it with algorithm.segmentation.files)
  labels.csv             slide,label,major_axis_um from the tumour masks
                         (the input of `python -m training classifier --labels`)
  heatmaps.json          IoU of each heatmap (threshold 0.5) against its mask

Slides need tumour masks as for `python -m training segmenter`. A run that fails
or is interrupted removes the heatmaps it wrote: no set without its labels.csv.

example:
  python -m training heatmaps --model runs/segmenter/best.pt --slides data/synth/slides-train --out data/heatmaps/train
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument("--model", type=Path, required=True, help="segmenter checkpoint")
    parser.add_argument("--slides", type=Path, nargs="+", required=True, help="folders of slides with tumour masks")
    parser.add_argument("--masks", type=Path, help="folder of the slides' masks (default: beside them)")
    parser.add_argument("--out", type=output_folder, required=True, help="output folder")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Write each slide's heatmap as the job makes it (the slide models' input) and report the IoU."""
    slides = [s for folder in args.slides for s in read_tumour_folder(folder, args.masks)]
    names: dict[str, Path] = {}
    for slide in slides:  # each heatmap, and its labels.csv row, is named by its slide's name
        if slide.name in names:
            raise ConfigError(
                f"{slide.path} and {names[slide.name]} have one name, {slide.name!r}: one heatmap would replace the "
                "other; rename one of them"
            )
        names[slide.name] = slide.path
    device = resolve_device(args.device)
    model, config, checkpoint = load_segmenter(args.model, device)
    score = IoUScore()
    with all_or_nothing() as written:  # a set the classifier reads with its labels.csv, or none of it
        for item, heatmap in heatmaps_of(slides, model, config, device, checkpoint.get("stain")):
            path = args.out / f"{item.name}.heatmap.tiff"
            written.append(path)
            write_heatmap_tiff(path, heatmap)
            score_heatmap(score, item, heatmap)
            print(f"{item.name}: {'tumour' if item.label else 'normal'}, IoU {score.per_slide[-1]['iou']:.3f}")
        written.append(args.out / "labels.csv")
        write_labels_csv(written[-1], [(s.name, s.label, s.major_axis_um) for s in slides])
        write_json_atomic(args.out / "heatmaps.json", {"model": str(args.model), **score.as_dict()})
    mean = score.mean_tumour_iou
    print(
        f"{len(slides)} heatmaps -> {args.out}: pooled IoU {score.iou:.3f}"
        + (f", mean IoU on tumour slides {mean:.3f}" if mean is not None else "")
    )
    return 0
