"""``python -m training detector``: train the mitotic-figure detector."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

from algorithm.errors import ConfigError
from algorithm.models import load_detector, refuse_program
from algorithm.models.detector import ARCHITECTURES, DetectorConfig
from algorithm.options import add_views_argument, microns_per_pixel
from training.arguments import (
    SEEDED,
    add_input_arguments,
    add_loop_arguments,
    add_run_arguments,
    add_scanner_augment_argument,
    detector_tile_size,
    non_negative_float,
    parse_range,
)
from training.datasets import SlideAnnotations, read_midog_database, read_midog_split, read_synthetic_folder
from training.datasets.midog import apply_midog_split
from training.datasets.real_negatives import read_real_negatives
from training.detector.crops import CROPS_MPP, parse_pages
from training.detector.hard_negatives import MiningConfig
from training.detector.paste import FigurePaster, figure_stamps, haematoxylin_vector
from training.detector.real_figures import read_real_figures
from training.detector.sampler import SamplingConfig
from training.detector.train import TrainOptions, train_detector
from training.scanner_augment import chain, patch_scanner_augment
from training.stain_target import fit_target, stain_augment

NAME = "detector"
HELP = "train the RetinaNet mitotic-figure detector"
DESCRIPTION = """\
Train a RetinaNet on MIDOG-format annotations and keep the checkpoint with the
best validation F1 at 7.5 um (matched as MIDOG's evaluation matches).

Data: folders of synthetic slides (--train/--valid, from `python -m training
synth`), or MIDOG's database (--midog-db MIDOG.json --images DIR [--split
train_val_split.txt]; the split file's valid images validate, the rest train;
without a split file every image trains and none validates).

Patches: half centred (with jitter) on a mitotic figure, some on imposters
(hard negatives), the rest anywhere in tissue; domain-balanced; flips and
rotations; each slide stain-normalised to one target (saved in the
checkpoint, used by the container) plus stain augmentation.

Hard negatives from the model's own mistakes: every --mine-every steps the
current model is run (the container's detection, on --device) over
--mine-tiles tiles of each of --mine-slides training slides; its calls scoring
--mine-floor or more that are not within 7.5 um of a true mitosis are pooled,
and --hard-negatives of the negative patches are centred on them.
--mine-scanner shows the model those tiles through softer optics (blur, JPEG,
noise), so that the mistakes an unseen scanner would bring out are mined too.

Confounders and real tissue as negatives: --confounder-share of the negative
patches are centred on the slides' confounders (pyknotic and apoptotic cells,
plasma cells, lymphocyte clusters, dark spindle nuclei...: listed in the
synthetic slides' truth, background for the model), and with --real-negatives
(folders or files of real H&E images with no mitosis labels; PNG/JPEG at
--real-mpp) --real-share of them come from those images' tissue, with no boxes,
read and stain-normalised as every patch is. Unlabelled is not mitosis-free: a
real figure in them is taught as background, so keep the share small and never
pass images known to hold mitoses (the real mitotic-figure crops are the
evaluation set of `detector-score --crops`).

Synthetic figures in real tissue: with --real-negatives, --pasted-share of the
mitosis patches are a real image's tissue with one of the training slides'
own mitotic figures pasted in (its chromatin alone, no halo, added in optical
density along the normalised stains' haematoxylin; training.detector.paste),
boxed as a mitosis: positives whose surroundings are real.

Real figures: with --real-negatives and --real-figures (a TIFF stack of crops
each centred on a real mitotic figure), --real-figure-share of the mitosis
patches are a real image's tissue with a crop's centre (a disc, soft-edged)
blended in, boxed as a mitosis; the same share of the negative patches is
real tissue with a disc of other real tissue blended in, unboxed, so the
disc's edge proves nothing. Train on some pages (--real-figure-pages) and
score the rest: detector-score --crops ... --pages.

Validation at realistic density: precision, F1 and the threshold are those at
--valid-density mitotic figures per mm^2 of tissue (synthetic slides are far
denser), overall and per scanner; the checkpoint records the density.

Writes to --out: best.pt (load it with python -m algorithm --model-dir, after
renaming to detector.pt), last.pt (for --resume), history.json, and
real-negatives/ (the PNG/JPEG real images as TIFFs, converted once) and
real-figures/ (the crops trained on, one TIFF each).

examples:
  python -m training detector --train data/synth/train --valid data/synth/valid --out runs/detector
  python -m training detector --smoke --train data/synth/train --out /tmp/smoke
  python -m training detector --train data/synth/train --valid data/synth/valid --out runs/detector \\
      --real-negatives ../shared/data/nuclei/monuseg/images --real-share 0.1
  python -m training detector --init models/detector.pt --epochs 3 --lr 2e-4 --out runs/tuned \\
      --train data/synth/train --valid data/synth/valid \\
      --real-negatives ../shared/data/nuclei/monuseg/images \\
      --real-figures ../shared/data/mitosis/midog25-mitotic-figure-crops.tiff --real-figure-pages 1,3,5,7
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
    model.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default="resnet18",
        help="backbone, trained from random weights: resnet18 or resnet34 (stages 2-3 into a feature pyramid), or "
        "resnet50_v2 (torchvision's RetinaNet v2 as it is; ignores --fpn-channels) (default resnet18)",
    )
    model.add_argument(
        "--fpn-channels",
        type=int,
        default=64,
        help="channels of the feature pyramid and the detection heads (default 64)",
    )
    add_views_argument(
        model,
        "recorded in the detector's config: validation, the threshold, hard-negative mining and the container "
        "all run them (default: --init's, else 1)",
    )
    add_input_arguments(
        model, tile_size=256, mpp=0.5, tile_type=detector_tile_size, tile_help=": a multiple of 32, at least 64"
    )
    add_scanner_augment_argument(model)
    train = parser.add_argument_group("training")
    add_loop_arguments(train)
    train.add_argument(
        "--optimizer",
        choices=("adamw", "sgd"),
        default="adamw",
        help="adamw, or sgd (Nesterov momentum 0.9); both with weight decay 1e-4, a linear warm-up of up to 50 "
        "iterations, then a cosine decay of --lr (default adamw)",
    )
    add_run_arguments(train, SEEDED + ", and the tiles mined for hard negatives")
    train.add_argument("--resume", action="store_true", help="continue from --out/last.pt")
    train.add_argument(
        "--init",
        type=Path,
        metavar="CHECKPOINT",
        help="fine-tune: start from this detector checkpoint's weights (e.g. models/detector.pt), its architecture, "
        "tile size, resolution and stain target (these options are then ignored); a fresh optimiser and schedule",
    )
    hard = parser.add_argument_group("hard negatives and validation density")
    defaults = MiningConfig()
    hard.add_argument(
        "--hard-negatives",
        type=float,
        default=0.3,
        metavar="SHARE",
        help="share of the negative patches centred on the model's own mined false positives; 0 disables "
        "mining (default 0.3)",
    )
    hard.add_argument(
        "--mine-every",
        type=int,
        default=defaults.every,
        metavar="STEPS",
        help=f"steps between mining rounds (default {defaults.every})",
    )
    hard.add_argument(
        "--mine-floor",
        type=float,
        default=defaults.floor,
        metavar="SCORE",
        help=f"lowest score of a false positive worth mining (default {defaults.floor:g})",
    )
    hard.add_argument(
        "--mine-slides",
        type=int,
        default=defaults.slides,
        metavar="N",
        help=f"training slides mined per round (default {defaults.slides})",
    )
    hard.add_argument(
        "--mine-tiles",
        type=int,
        default=defaults.tiles,
        metavar="N",
        help=f"detector tiles per slide per round (default {defaults.tiles})",
    )
    hard.add_argument(
        "--mine-scanner",
        type=float,
        default=defaults.scanner,
        metavar="P",
        help="while mining, show the model each tile blurred, JPEG-compressed and noised, each with probability P "
        "(as --scanner-augment does to patches): the mistakes a softer scanner brings out (default 0: as stored)",
    )
    negatives = parser.add_argument_group("confounders and real tissue as negatives")
    negatives.add_argument(
        "--confounder-share",
        type=float,
        default=0.2,
        metavar="SHARE",
        help="share of the negative patches centred on the slides' confounders (synthetic slides' truth lists "
        "them); 0 disables (default 0.2)",
    )
    negatives.add_argument(
        "--real-negatives",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="real H&E images (folders or files; PNG/JPEG, or slides recording their resolution) with no mitosis "
        "labels, drawn as negatives with no boxes; repeatable. Unlabelled real mitoses in them are taught as "
        "background: keep --real-share small",
    )
    negatives.add_argument(
        "--real-share",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="share of the negative patches drawn from --real-negatives (default 0.1)",
    )
    negatives.add_argument(
        "--pasted-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the mitosis patches that are --real-negatives tissue with a training slide's synthetic "
        "figure pasted in (default 0: none)",
    )
    negatives.add_argument(
        "--pasted-per-slide",
        type=int,
        default=20,
        metavar="N",
        help="figures of each training slide drawn once as stamps to paste (default 20)",
    )
    negatives.add_argument(
        "--real-figures",
        type=Path,
        metavar="TIFF",
        help="a multi-page TIFF of crops each centred on a real mitotic figure (at --real-figure-mpp): with "
        "--real-negatives, --real-figure-share of the mitosis patches blend one's centre into real tissue, and that "
        "share of the negatives a disc of other real tissue (training.detector.real_figures)",
    )
    negatives.add_argument(
        "--real-figure-pages",
        metavar="PAGES",
        help="the pages of --real-figures to train on, e.g. 1,3,5-7 (default all); score the others with "
        "detector-score --crops ... --pages",
    )
    negatives.add_argument(
        "--real-figure-share",
        type=float,
        default=0.2,
        metavar="SHARE",
        help="share of the mitosis patches that are a --real-figures crop blended into real tissue (default 0.2)",
    )
    negatives.add_argument(
        "--real-figure-raw",
        action="store_true",
        help="blend each --real-figures disc into the real image's stored pixels and stain-normalise the patch "
        "with the image's own fit, as a job sees a figure in a slide (default: crop and image each normalised on "
        "its own fit, then blended)",
    )
    negatives.add_argument(
        "--real-figure-warp",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="turn each --real-figures crop by a random angle and magnify it by up to +/- SHARE (e.g. 0.15) before "
        "it is blended: other angles to the pixel grid and other sizes than the crops' own (default 0: as stored)",
    )
    negatives.add_argument(
        "--island-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of all patches cut to a small square island of tissue around their cell (--island-um), glass "
        "around it: small images, e.g. crops of a high-power field, as a job sees them (default 0)",
    )
    negatives.add_argument(
        "--island-um",
        default="24:96",
        metavar="LO:HI",
        help="the island's side in microns, drawn uniformly from LO to HI (default 24:96)",
    )
    negatives.add_argument(
        "--real-figure-mpp",
        type=float,
        default=CROPS_MPP,
        metavar="UM",
        help=f"microns per pixel of --real-figures (default {CROPS_MPP:g}, MIDOG 2025's crops)",
    )
    negatives.add_argument(
        "--real-mpp",
        type=microns_per_pixel,
        default=0.25,
        metavar="UM",
        help="microns per pixel of the PNG/JPEG real images (default 0.25, MoNuSeg's 40x)",
    )
    hard.add_argument(
        "--valid-density",
        type=non_negative_float,
        default=4.0,
        metavar="PER_MM2",
        help="mitotic figures per mm^2 of tissue the validation scores and threshold are taken at; "
        "0: the validation slides' own (default 4, real tumours' 3-5)",
    )


def _load(args: argparse.Namespace) -> tuple[list[SlideAnnotations], list[SlideAnnotations]]:
    if args.midog_db:
        slides = read_midog_database(args.midog_db, args.images)
        slides = [s for s in slides if len(s.points)]
        if args.split:
            apply_midog_split(slides, read_midog_split(args.split))
        folder = args.images or args.midog_db.parent
        if not folder.is_dir():
            raise ConfigError(f"{folder}: images folder not found (--images: the folder of the database's images)")
        missing = [s.file_name for s in slides if s.path is None or not s.path.is_file()]
        if missing:
            raise ConfigError(f"{folder}: {len(missing)} images of the database are missing (e.g. {missing[0]})")
        return [s for s in slides if s.split != "valid"], [s for s in slides if s.split == "valid"]
    train = [s for folder in args.train for s in read_synthetic_folder(folder)]
    valid = [s for folder in args.valid for s in read_synthetic_folder(folder)]
    return train, valid


def check_arguments(args: argparse.Namespace) -> None:
    """What the options allow together, checked before any work (a usage error: exit 2); ConfigError."""
    if not args.midog_db and not args.train:
        raise ConfigError("give --train folders or --midog-db")
    if args.pasted_share > 0 and not args.real_negatives:
        raise ConfigError("--pasted-share needs --real-negatives: the real images the figures are pasted into")
    if args.real_figures and not args.real_negatives:
        raise ConfigError("--real-figures needs --real-negatives: the real images the figures are blended into")
    for option in ("real_figure_raw", "real_figure_warp", "real_figure_pages"):
        if getattr(args, option) and not args.real_figures:
            raise ConfigError(f"--{option.replace('_', '-')} needs --real-figures")
    if args.init is not None and args.resume:
        raise ConfigError("give --init (a fresh run from a checkpoint's weights) or --resume, not both")
    if args.real_figure_pages:
        parse_pages(args.real_figure_pages)
    _sampling(args, _mining(args))  # the shares' sums, the island range


def _mining(args: argparse.Namespace) -> MiningConfig:
    return MiningConfig(
        share=args.hard_negatives,
        every=args.mine_every,
        floor=args.mine_floor,
        slides=args.mine_slides,
        tiles=args.mine_tiles,
        scanner=args.mine_scanner,
    )


def _sampling(args: argparse.Namespace, mining: MiningConfig) -> SamplingConfig:
    return SamplingConfig(
        tile_size=args.tile_size,
        mpp=args.mpp,
        hard_negative_fraction=mining.share,
        real_fraction=args.real_share if args.real_negatives else 0.0,
        confounder_fraction=args.confounder_share,
        pasted_fraction=args.pasted_share if args.real_negatives else 0.0,
        real_figure_fraction=args.real_figure_share if args.real_figures else 0.0,
        real_figure_raw=args.real_figure_raw,
        real_figure_warp=args.real_figure_warp,
        island_fraction=args.island_share,
        island_um=_island_um(args.island_um),
    )


def run(args: argparse.Namespace) -> int:
    """Train a detector on the slides given and save the checkpoint; the exit status."""
    mining = _mining(args)
    sampling = _sampling(args, mining)
    pages = parse_pages(args.real_figure_pages) if args.real_figure_pages else None
    figures = (
        read_real_figures(args.real_figures, pages, args.real_figure_mpp, args.out / "real-figures")
        if args.real_figures
        else []
    )
    train, valid = _load(args)
    real = (
        read_real_negatives(args.real_negatives, args.real_mpp, args.out / "real-negatives")
        if args.real_negatives
        else []
    )
    if args.smoke:
        train, valid = train[:2], valid[:1]
        args.epochs, args.iterations, args.batch_size = 1, 2, 2
    init = None
    if args.init is not None:
        start, config, checkpoint = load_detector(args.init)
        refuse_program(args.init, checkpoint, "fine-tuning (--init)")
        init, spec = start.state_dict(), checkpoint.get("stain")
        print(f"fine-tuning {args.init} ({config.arch}, {config.tile_size} px at {config.mpp:g} um/px)")
    else:
        config = DetectorConfig(arch=args.arch, fpn_channels=args.fpn_channels, tile_size=args.tile_size, mpp=args.mpp)
        spec = fit_target(args.stain, args.stain_target, train[0].slide_path, args.mpp)
    config = config.with_views(args.views)
    sampling = dataclasses.replace(sampling, tile_size=config.tile_size, mpp=config.mpp)
    paster = None
    if sampling.pasted_fraction > 0:
        stamps = figure_stamps(train, config.mpp, args.pasted_per_slide, args.seed)
        paster = FigurePaster(stamps, haematoxylin_vector(spec), config.mpp)
    options = TrainOptions(
        epochs=args.epochs,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        device=args.device,
        warmup=min(50, args.epochs * args.iterations // 10 + 1),
        valid_density=args.valid_density or None,
    )
    domains = sorted({str(s.domain) for s in train})
    print(f"training on {len(train)} slides (domains {', '.join(domains)}), validating on {len(valid)}")
    confounders = sum(len(s.confounders) for s in train)
    print(f"negatives: {args.confounder_share:g} on the slides' {confounders} confounders", end="")
    print(f", {sampling.real_fraction:g} from {len(real)} real images" if real else "")
    if paster is not None:
        print(f"positives: {sampling.pasted_fraction:g} pasted into real images ({len(paster.stamps)} figures)")
    if figures:
        where = "stored pixels, then normalised" if sampling.real_figure_raw else "normalised pixels"
        warp = sampling.real_figure_warp
        warped = f"; turned and sized {1 - warp:g}-{1 + warp:g}x" if warp > 0 else ""
        print(
            f"positives: {sampling.real_figure_fraction:g} real figures blended into real images ({len(figures)}; "
            f"{where}{warped})"
        )
    if config.views > 1:
        print(f"test-time views: {config.views} (validation, threshold and mining fuse them, as the container does)")
    if sampling.island_fraction > 0:
        low, high = sampling.island_um
        print(f"islands: {sampling.island_fraction:g} of the patches cut to {low:g}-{high:g} um of tissue in glass")
    command = json.dumps({k: v for k, v in vars(args).items() if k != "run"}, default=str)
    best = train_detector(
        train,
        valid,
        config,
        options,
        args.out,
        sampling=sampling,
        stain=spec,
        # scanner optics and compression first, as a scanner's come before any colour difference
        patch_augment=chain(
            patch_scanner_augment(args.scanner_augment), stain_augment(args.stain, spec, args.stain_augment)
        ),
        resume=args.resume,
        extra={"command": command},
        mining=mining,
        real=real,
        paster=paster,
        figures=figures,
        init=init,
    )
    print(f"best: {json.dumps(best)}  ->  {args.out / 'best.pt'}")
    return 0


def _island_um(text: str) -> tuple[float, float]:
    """``--island-um``: '24:96' -> (24.0, 96.0); one number: that side always."""
    low, high = parse_range(text) or (math.nan, math.nan)
    if not 0 < low <= high:
        raise ConfigError(f"--island-um must be microns LO:HI with 0 < LO <= HI, or one side, got {text!r}")
    return low, high
