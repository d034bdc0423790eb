"""``python -m training detector-score``: held-out F1 of a detector checkpoint, or its recall on real
mitotic-figure crops and calls per mm^2 of unlabelled real tissue."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.io.atomic import write_bytes_atomic, write_json_atomic
from algorithm.models import load_detector
from algorithm.options import add_views_argument, microns_per_pixel, probability
from training.arguments import add_device_argument, non_negative_float, output_file, positive_float
from training.datasets import read_synthetic_folder
from training.detector.crops import (
    CROPS_MPP,
    CropResult,
    Detector,
    crops_report,
    parse_pages,
    read_crop_stack,
    report_table,
    score_crops,
    score_real_images,
)
from training.detector.crops_picture import render_crops
from training.detector.gallery import mistakes, render_gallery
from training.detector.in_field import score_crops_in_field
from training.detector.interval import INTERVAL_DESCRIPTION, with_interval
from training.detector.mistake_kinds import false_call_kinds, missed_kinds
from training.detector.validate import (
    density_weight,
    detect_validation_slides,
    domain_scores,
    mitotic_density,
    score_slides,
    slides_tissue_mm2,
)

NAME = "detector-score"
HELP = "score a detector checkpoint on held-out slides (F1 at 7.5 um, per domain) or on real crops and images"
DESCRIPTION = """\
Run a detector checkpoint over whole slides exactly as the container does
(tissue, per-slide stain normalisation to the checkpoint's target, tiles, NMS)
and score it against the slides' truth with evalutils' score_detection at
MIDOG's radius, at the checkpoint's validated threshold (or --threshold).
Prints one JSON object: overall and per-domain precision, recall, F1, at the
mitotic density the checkpoint was validated at (or --density; 0: the slides'
own), true figures weighted as validation weights them, each F1 with a 95 %
bootstrap interval over slides (f1_interval: a few held-out slides hold few
figures, and two or three changing side move F1 by 0.05-0.1), and per domain
the false calls counted by what the truth lists where they lie
(false_calls_on: an imposter, a confounder's kind, or "none listed": an
ordinary nucleus or tissue) and the missed figures by phase and place
(missed: "telophase, outside tumour"...).

Real tissue (instead of --slides): --crops, a multi-page TIFF of crops each
centred on a real mitotic figure (each page written as a TIFF at --crops-mpp
and detected by the job's code, its tissue mask included), reports per crop whether a
mitotic figure is called within --radius-um of its centre at the threshold,
and the recall; --real-images, real H&E images without mitosis labels
(folders or files; PNG/JPEG at --real-mpp), reports the mitotic-figure calls
per mm^2 of their tissue (a false-positive proxy: real tumours hold 3-5).
--in-field IMAGE (with --crops) blends each crop's centre into the middle of
a real H&E image and detects on the whole field instead: a real figure among
real neighbours, with the field's tissue mask and stain fit, as in a slide.
Prints a short table; --out writes the JSON report (in either mode).

--gallery PNG draws what was scored: with --slides, the mistakes (crops of
the highest-scoring false calls and of the missed figures, each with its
score, scanner and slide); with --crops, every crop with the matching circle
round its centre (green: found), a cross on its best candidate and its score.

examples:
  python -m training detector-score --model models/detector.pt --slides data/synth/test
  python -m training detector-score --model models/detector.pt --slides data/synth/test-real-density \\
      --gallery mistakes.png
  python -m training detector-score --model models/detector.pt \\
      --crops ../shared/data/mitosis/midog25-mitotic-figure-crops.tiff \\
      --real-images ../shared/data/nuclei/monuseg/images --out crops.json --gallery crops.png
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument("--model", type=Path, required=True, help="detector checkpoint (.pt)")
    parser.add_argument("--slides", type=Path, nargs="+", default=[], help="folders of synthetic slides")
    parser.add_argument("--threshold", type=probability, help="decision threshold (default: the checkpoint's)")
    parser.add_argument(
        "--radius-um", type=positive_float, default=7.5, help="matching radius, above 0 (default 7.5, MIDOG's)"
    )
    parser.add_argument(
        "--density",
        type=non_negative_float,
        metavar="PER_MM2",
        help="mitotic figures per mm^2 of tissue to score at (default: the checkpoint's validation density; "
        "0: the slides' own)",
    )
    add_device_argument(parser)
    add_views_argument(parser, "instead of the checkpoint's (default: its own)")
    real = parser.add_argument_group("real tissue (instead of --slides)")
    real.add_argument(
        "--crops", type=Path, metavar="TIFF", help="a multi-page TIFF of crops, each centred on a real mitotic figure"
    )
    real.add_argument(
        "--pages",
        metavar="PAGES",
        help="only these pages of --crops, e.g. 2,4,6-8 (default all): the ones a detector was not trained on "
        "(training detector --real-figure-pages)",
    )
    real.add_argument(
        "--crops-mpp",
        type=microns_per_pixel,
        default=CROPS_MPP,
        metavar="UM",
        help=f"microns per pixel of the crops (default {CROPS_MPP:g}, MIDOG 2025's)",
    )
    real.add_argument(
        "--in-field",
        type=Path,
        metavar="IMAGE",
        help="with --crops: blend each crop's centre into the middle of this real H&E image (at --real-mpp) and "
        "detect on the whole field, as in a slide, instead of each crop alone (training.detector.in_field)",
    )
    real.add_argument(
        "--real-images",
        type=Path,
        nargs="+",
        default=[],
        metavar="PATH",
        help="real H&E images without mitosis labels (folders or files): mitotic-figure calls per mm^2 of tissue",
    )
    real.add_argument(
        "--real-mpp",
        type=microns_per_pixel,
        default=0.25,
        metavar="UM",
        help="microns per pixel of PNG/JPEG real images (default 0.25, MoNuSeg's 40x)",
    )
    parser.add_argument("--out", type=output_file, metavar="JSON", help="also write the report to this JSON file")
    parser.add_argument(
        "--gallery",
        type=output_file,
        metavar="PNG",
        help="a picture: with --slides, of the highest-scoring false calls and the missed figures; with --crops, "
        "of every crop and its best candidate",
    )
    parser.add_argument(
        "--gallery-size", type=int, default=16, metavar="N", help="crops per kind in --gallery (default 16)"
    )


def run(args: argparse.Namespace) -> int:
    """Score a detector checkpoint on slides, or on real crops and images, with the container's own detection
    code; the exit status."""
    real = args.crops is not None or bool(args.real_images)
    if args.slides and real:
        raise ConfigError("give --slides, or --crops and/or --real-images, not both")
    if not args.slides and not real:
        raise ConfigError("give --slides folders, or --crops and/or --real-images")
    if args.pages and args.crops is None:
        raise ConfigError("--pages needs --crops")
    if args.in_field is not None and args.crops is None:
        raise ConfigError("--in-field needs --crops")
    if args.in_field is not None and not args.in_field.is_file():
        raise ConfigError(f"{args.in_field}: no such file")
    if args.gallery is not None and not args.slides and args.crops is None:
        raise ConfigError("--gallery draws the mistakes on --slides or the crops of --crops")
    if args.gallery_size < 1:
        raise ConfigError(f"--gallery-size must be at least 1, got {args.gallery_size}")
    pages = None
    stack: list[NDArray[np.uint8]] = []
    if args.crops is not None:
        stack = read_crop_stack(args.crops)  # a bad file fails before the model loads
        pages = parse_pages(args.pages, len(stack)) if args.pages else None
    device = torch.device(args.device)
    model, config, checkpoint = load_detector(args.model, device)
    config = config.with_views(args.views)
    threshold = args.threshold if args.threshold is not None else float(checkpoint.get("threshold", 0.5))
    if real:
        detector = Detector(model, config, checkpoint.get("stain"), threshold, device)
        crops: list[CropResult] = []
        shown, shown_mpp = stack, args.crops_mpp
        if args.in_field is not None:
            crops, shown, shown_mpp = score_crops_in_field(
                args.crops, detector, args.in_field, args.real_mpp, args.crops_mpp, args.radius_um, pages
            )
        elif args.crops is not None:
            crops = score_crops(args.crops, detector, args.crops_mpp, args.radius_um, pages)
            shown = [stack[c.page - 1] for c in crops]
        images = score_real_images(args.real_images, detector, args.real_mpp) if args.real_images else []
        report = crops_report(str(args.model), detector, crops, images, args.radius_um)
        report["views"] = config.views
        print(report_table(report))
        if args.out is not None:
            write_json_atomic(args.out, report)
        if args.gallery is not None:
            _save_png(args.gallery, render_crops(shown, crops, shown_mpp, args.radius_um, threshold))
            print(f"gallery: {args.gallery} ({sum(c.found for c in crops)} of {len(crops)} found)", file=sys.stderr)
        return 0
    slides = [s for folder in args.slides for s in read_synthetic_folder(folder)]
    density = args.density if args.density is not None else checkpoint.get("validation", {}).get("density_per_mm2")
    found = detect_validation_slides(model, config, slides, device, checkpoint.get("stain"))
    areas = slides_tissue_mm2(slides)
    weight = density_weight(slides, areas, density or None)
    report = {
        "model": str(args.model),
        "views": config.views,
        "threshold": threshold,
        "radius_um": args.radius_um,
        "density_per_mm2": density or mitotic_density(slides, areas),
        "annotated_density_per_mm2": mitotic_density(slides, areas),
        "overall": with_interval(score_slides(found, slides, threshold, args.radius_um, weight)),
        "domains": domain_scores(found, slides, areas, threshold, density or None, args.radius_um, with_interval),
        "f1_interval": INTERVAL_DESCRIPTION,
        "false_calls_on": false_call_kinds(found, slides, threshold, args.radius_um),
        "missed": missed_kinds(found, slides, threshold, args.radius_um),
    }
    print(json.dumps(report, indent=2))
    if args.out is not None:
        write_json_atomic(args.out, report)
    if args.gallery is not None:
        false_calls, missed = mistakes(found, slides, threshold, args.radius_um)
        rows = [("false calls, highest score first", false_calls), ("missed figures, lowest score first", missed)]
        _save_png(args.gallery, render_gallery(rows, config.mpp, args.gallery_size))
        print(f"gallery: {args.gallery} ({len(false_calls)} false calls, {len(missed)} missed)", file=sys.stderr)
    return 0


def _save_png(path: Path, picture: Image.Image) -> None:
    """``picture`` written as a PNG, whole or not at all."""
    data = io.BytesIO()
    picture.save(data, format="PNG")
    write_bytes_atomic(path, data.getvalue())
