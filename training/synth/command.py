"""``python -m training synth``: write synthetic H&E slides with truth files."""

from __future__ import annotations

import argparse
import csv
import fcntl
import glob
import io
import logging
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from algorithm.errors import ConfigError, KitError
from algorithm.io.atomic import write_bytes_atomic
from training.arguments import parse_range
from training.synth.config import LABELS, MAX_CONFOUNDERS, MAX_DENSITY, MAX_HAEMOGLOBIN, SynthConfig, pick
from training.synth.generate import generate_slide, slide_name
from training.synth.noise import derive_seed
from training.synth.pyramid import COMPRESSIONS, TILE_SIZES, TiffOptions, tile_count
from training.synth.scanners import SCANNERS, get_scanner

logger = logging.getLogger(__name__)

NAME = "synth"
SLIDE_LABELS = "slide-labels.csv"
SLIDE_LABELS_HEADER = ("slide", "label")
POSITIVE_CHOICES = ("no", "yes", "random")
HELP = "write synthetic H&E whole slides with known truth"
DESCRIPTION = """\
Write N synthetic H&E whole-slide images (pyramidal tiled TIFF that OpenSlide
reads, with mpp) and their truth, into --out:

  <name>.tiff              the slide (levels downsampled by 4 down to <= 2048 px)
  <name>.midog.json        mitotic figures (category 1) and imposters (2), MIDOG 2021 format
  <name>.truth.json        seed, configuration, scanner stain matrix, label, tumour axis, counts,
                           confounders (kind and position of every look-alike: negatives to sample)
  <name>.tumour-mask.png   truth tumour region, low resolution (0/255)
  <name>.tissue-mask.png   tissue, low resolution (0/255)
  <name>.nuclei-mask.tiff  with --nuclei-masks: every nucleus drawn, level-0 grid (0/255, tiled TIFF)
  slide-labels.csv         with --positive yes|random: slide,label (1 positive, 0 negative) per slide
                           written, merged with the rows already there (a slide's row replaced)

Slide i is a pure function of seed S+i and the options: the same command gives
the same bytes. Names are synth-<seed, 6 digits>.

Mitotic density: --mitoses-per-mm2 5 gives 5 figures per mm^2 of tissue on any slide
size; --mitoses-per-mm2 2:8 draws each slide's density from [2, 8] (from its seed).
Confounders (pyknotic and apoptotic cells, hyperchromatic and tangentially cut nuclei,
dark spindle nuclei, plasma cells, lymphocyte clusters, debris) at realistic densities;
--confounders scales them (0: none, the slides of earlier versions).
Slide-level label (weakly supervised slide classifiers): --positive yes makes every tumour
nucleus of the slide a little larger, more often hyperchromatic, coarser, with more nucleoli:
the same tissue as the negative slide of that seed, a change no single region shows plainly.
It needs tumour (--label tumour); --positive random draws it per slide from the seed.
Blood colour: --haemoglobin 1 adds the haemoglobin's own colour to the red cells (vessel
lumens, bleeds): cherry red, as real H&E blood and as blood filters expect; 0 (the default)
keeps eosin-only, magenta red cells, the slides of earlier versions.

example:
  python -m training synth --out data/synth --count 8 --seed 100 --size 6000x4000 --mitoses-per-mm2 2:8
"""


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (e.g. 4096x4096), got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (256 <= w <= 200_000 and 256 <= h <= 200_000):
        raise argparse.ArgumentTypeError(f"width and height must be in [256, 200000], got {text!r}")
    return w, h


def _density(text: str) -> tuple[float, float]:
    """``--mitoses-per-mm2``: a density D (as (D, D)) or a range LO:HI."""
    lo, hi = parse_range(text) or (math.nan, math.nan)
    if not (0.0 <= lo <= hi <= MAX_DENSITY):
        raise argparse.ArgumentTypeError(
            f"--mitoses-per-mm2 must be a density D or a range LO:HI within [0, {MAX_DENSITY:g}], got {text!r}"
        )
    return lo, hi


def _prefix(text: str) -> str:
    """``--prefix``: a file name prefix, nothing that reaches outside --out (no '/', no leading '.')."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(
            f"--prefix must be letters, digits, '_', '-' or '.', a letter or digit first, got {text!r}"
        )
    return text


def _bounded(kind: type[int] | type[float], lo: float, hi: float, what: str) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` within [lo, hi], with a message naming ``what``."""

    def parse(text: str) -> float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a{'n integer' if kind is int else ' number'}, got {text!r}"
            ) from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be in [{lo}, {hi}], got {text!r}")
        return v

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument(
        "--count",
        type=_bounded(int, 1, 100_000, "--count"),
        default=1,
        metavar="N",
        help="number of slides (default 1)",
    )
    p.add_argument(
        "--seed",
        type=_bounded(int, 0, 10**12, "--seed"),
        default=0,
        metavar="S",
        help="slide i uses seed S+i (default 0)",
    )
    p.add_argument(
        "--size", type=_size, default=(4096, 4096), metavar="WxH", help="level-0 size in pixels (default 4096x4096)"
    )
    p.add_argument(
        "--mpp",
        type=_bounded(float, 0.05, 4.0, "--mpp"),
        default=0.25,
        metavar="UM",
        help="micrometres per pixel at level 0 (default 0.25, MIDOG's)",
    )
    p.add_argument(
        "--scanner",
        choices=[*SCANNERS, "random", "sampled"],
        default="random",
        help="virtual scanner (stain colours, optics); random: one of A-D chosen from the seed (default); "
        "sampled: each slide its own scanner S<seed>, drawn from broad ranges (domain randomisation)",
    )
    p.add_argument(
        "--label",
        choices=[*LABELS, "random"],
        default="random",
        help="slide with a tumour region or normal tissue only; random: from the seed (default)",
    )
    p.add_argument(
        "--mitoses",
        type=_bounded(int, 0, 1_000_000, "--mitoses"),
        default=20,
        metavar="N",
        help="mitotic figures per slide (default 20)",
    )
    p.add_argument(
        "--mitoses-per-mm2",
        type=_density,
        default=None,
        metavar="D|LO:HI",
        help="mitotic figures per mm^2 of tissue instead of --mitoses (MIDOG: about 5); LO:HI draws each "
        "slide's density from that range (default: --mitoses per slide)",
    )
    p.add_argument(
        "--confounders",
        type=_bounded(float, 0.0, MAX_CONFOUNDERS, "--confounders"),
        default=1.0,
        metavar="X",
        help="density multiplier of the confounders (pyknotic, apoptotic, plasma cells, lymphocyte clusters, "
        "tangential cuts, dark spindle nuclei, debris); 0: none, as earlier versions (default 1)",
    )
    p.add_argument(
        "--imposters",
        type=_bounded(int, 0, 1_000_000, "--imposters"),
        default=30,
        metavar="N",
        help="imposters (hard negatives) per slide (default 30)",
    )
    p.add_argument("--compression", choices=COMPRESSIONS, default="jpeg", help="tile compression (default jpeg)")
    p.add_argument(
        "--jpeg-quality",
        type=_bounded(int, 1, 100, "--jpeg-quality"),
        default=None,
        metavar="Q",
        help="JPEG quality (default: the scanner's, 80-92)",
    )
    p.add_argument(
        "--blur",
        type=_bounded(float, 0.0, 20.0, "--blur"),
        default=0.0,
        metavar="SIGMA",
        help="extra Gaussian blur sigma in level-0 pixels (default 0)",
    )
    p.add_argument("--tile", type=int, choices=TILE_SIZES, default=512, help="TIFF tile size (default 512)")
    p.add_argument(
        "--nuclei-masks",
        action="store_true",
        help="also write <name>.nuclei-mask.tiff: every nucleus drawn (mitotic figures and pyknotic imposters "
        "included, red cells not), 0/255 on the slide's level-0 grid (a tiled TIFF with the slide's tiles and "
        "resolution), for nuclei segmentation training",
    )
    p.add_argument(
        "--positive",
        choices=POSITIVE_CHOICES,
        default="no",
        help="slide-level label: on positive slides every tumour nucleus is a little larger, more often "
        "hyperchromatic, with coarser chromatin and more nucleoli (subtle: seen only over many cells); it needs "
        "tumour, so use --label tumour; random: from the seed. yes or random also write <out>/"
        + SLIDE_LABELS
        + " (slide,label: 1 positive, 0 negative), merged with its rows already there (default no: none, the "
        "slides of earlier versions)",
    )
    p.add_argument(
        "--haemoglobin",
        type=_bounded(float, 0.0, MAX_HAEMOGLOBIN, "--haemoglobin"),
        default=0.0,
        metavar="H",
        help="haemoglobin colour of the red cells (vessel lumens, bleeds): 1 gives realistic cherry-red blood, "
        "which blood filters see; 0: eosin only, magenta, the slides of earlier versions (default 0); recorded "
        "in the truth file when above 0",
    )
    p.add_argument(
        "--prefix",
        type=_prefix,
        default="synth",
        help="file name prefix: letters, digits, '_', '-' or '.', a letter or digit first (default synth)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def configs(args: argparse.Namespace) -> list[tuple[SynthConfig, TiffOptions, str]]:
    """The slides the arguments ask for (validated before anything is written)."""
    out = []
    for i in range(args.count):
        seed = args.seed + i
        scanner = {"random": pick(seed, "scanner", tuple(SCANNERS)), "sampled": f"S{seed}"}.get(
            args.scanner, args.scanner
        )
        label = pick(seed, "label", LABELS) if args.label == "random" else args.label
        positive = args.positive == "yes" or (
            args.positive == "random" and pick(seed, "positive", ("no", "yes")) == "yes"
        )
        cfg = SynthConfig(
            seed=seed,
            width=args.size[0],
            height=args.size[1],
            mpp=args.mpp,
            scanner=scanner,
            label=label,
            mitoses=args.mitoses,
            imposters=args.imposters,
            blur=args.blur,
            mitoses_per_mm2=_slide_density(args.mitoses_per_mm2, seed),
            confounders=args.confounders,
            positive=positive,
            haemoglobin=args.haemoglobin,
        )
        quality = args.jpeg_quality if args.jpeg_quality is not None else get_scanner(scanner).jpeg_quality
        options = TiffOptions(compression=args.compression, jpeg_quality=quality, tile=args.tile)
        out.append((cfg, options, slide_name(seed, args.prefix)))
    return out


def _slide_density(density: tuple[float, float] | None, seed: int) -> float | None:
    """The mitotic density of the slide with ``seed``: fixed, or drawn from the range by the seed (3 decimals)."""
    if density is None:
        return None
    lo, hi = density
    if lo == hi:
        return lo
    u = (derive_seed(seed, "mitoses-per-mm2") % 1_000_003) / 1_000_002
    return round(lo + (hi - lo) * u, 3)


def _output_folder(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KitError(f"cannot create output folder {out}: {error.strerror or error}") from error
    return out


def remove_slide(out: Path, name: str) -> None:
    """Every file of slide ``name`` in ``out`` (``NAME.tiff``, ``NAME.midog.json``, its masks...)."""
    for path in out.glob(f"{glob.escape(name)}.*"):
        path.unlink(missing_ok=True)


def read_slide_labels(path: Path) -> dict[str, int]:
    """``slide`` -> label (1 positive, 0 negative) of a ``slide-labels.csv``; {} when there is none."""
    if not path.exists():
        return {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise KitError(f"{path}: cannot read the slide labels: {getattr(error, 'strerror', None) or error}") from error
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(c.strip() for c in rows[0]) != SLIDE_LABELS_HEADER:
        raise ConfigError(f"{path}: expected the header 'slide,label' (the file --positive writes)")
    labels: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2 or not row[0].strip() or row[1].strip() not in ("0", "1"):
            raise ConfigError(f"{path}, line {line}: expected 'slide,label' with label 0 or 1, got {','.join(row)!r}")
        labels[row[0].strip()] = int(row[1])
    return labels


def write_slide_labels(path: Path, labels: dict[str, int]) -> None:
    """``slide,label`` rows sorted by slide name, written atomically."""
    lines = [",".join(SLIDE_LABELS_HEADER)] + [f"{name},{labels[name]}" for name in sorted(labels)]
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def add_slide_label(path: Path, name: str, label: int) -> None:
    """Merge one row into ``path``, read and rewritten under an exclusive lock on its folder: two runs writing
    slides into one folder keep each other's rows."""
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        labels = read_slide_labels(path)
        labels[name] = label
        write_slide_labels(path, labels)
    finally:
        os.close(folder)  # releases the lock


def run(args: argparse.Namespace) -> int:
    """Render every slide asked for, with a progress bar per slide; the exit status.

    With ``--positive yes|random`` each slide's label joins ``slide-labels.csv`` as soon as
    the slide is written (an interrupted run lists the slides it finished).
    """
    from tqdm import tqdm

    jobs = configs(args)
    out = _output_folder(args.out)
    labels_path = out / SLIDE_LABELS
    if args.positive != "no":
        read_slide_labels(labels_path)  # a broken file is an error before any slide is drawn
    for cfg, _, name in jobs:
        if cfg.positive and cfg.label != "tumour":
            logger.warning(
                f"{name} is positive but its label is {cfg.label}: no tumour nuclei show it (--label tumour)"
            )
    for cfg, options, name in jobs:
        total = tile_count(cfg.width, cfg.height, options)
        with tqdm(total=total, unit="tile", desc=name, disable=args.quiet, leave=False, dynamic_ncols=True) as bar:
            try:
                result = generate_slide(cfg, out, name, options, on_tile=bar.update, nuclei_mask=args.nuclei_masks)
            except BaseException as error:
                remove_slide(out, name)  # a slide is all of its files or none (a full disk, an interruption)
                if isinstance(error, OSError):
                    raise KitError(f"cannot write {name} into {out}: {error.strerror or error}") from error
                raise
        if args.positive != "no":
            try:
                add_slide_label(labels_path, name, int(cfg.positive))
            except OSError as error:
                raise KitError(f"cannot write {labels_path}: {error.strerror or error}") from error
        print(result.summary(), flush=True)
    return 0
