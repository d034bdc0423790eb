"""Real H&E images with no mitosis labels, as negative-only slides for the detector.

A detector trained on synthetic slides alone has never seen real tissue; a
small share of its negative patches is drawn from real images' tissue (no
boxes), read through the kit's own reader at the detector's resolution and
stain-normalised like every other patch, so real nuclei, stroma and
artefacts become background. PNG/JPEG images are written once as lossless
tiled TIFFs with their resolution (``mpp``: MoNuSeg's 40x is about 0.25
um/px) and opened as a job opens its input (``training.datasets.pictures``);
TIFF, SVS and other slide files are opened as they are and must carry their
own resolution.

The risk: these images are unlabelled, not mitosis-free. A real mitotic
figure in one (a few per mm^2 in a tumour) becomes a negative, teaching the
detector to suppress exactly what it should find; hence a small share
(the recipe's 10 % of the negatives), and never images that are known to
hold mitoses (such as the real mitotic-figure crops, which are the
evaluation set for the real-crop recall).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from algorithm.errors import ConfigError
from algorithm.slide import IMAGE_SUFFIXES, open_slide
from algorithm.slide.base import SlideReader
from training.datasets.annotations import SlideAnnotations
from training.datasets.pictures import open_image
from training.synth.nuclei_mask import NUCLEI_MASK_SUFFIX

REAL_DOMAIN = "real"  # the domain of real-negative slides
SLIDE_SUFFIXES = (".tif", ".tiff", ".svs", ".ndpi", ".scn", ".mrxs", ".bif", ".vms")  # opened as they are


def real_image_files(paths: Sequence[Path]) -> list[Path]:
    """The image files ``paths`` name: files as given, folders' images (sorted; nuclei masks left out).

    ConfigError for a path that does not exist or a folder without images.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [
                p
                for p in sorted(path.iterdir())
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES + SLIDE_SUFFIXES
                and not p.stem.endswith(NUCLEI_MASK_SUFFIX)
            ]
            if not found:
                raise ConfigError(f"{path}: no images in the folder ({', '.join(IMAGE_SUFFIXES + SLIDE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def open_real_image(path: Path, mpp: float, work: Path) -> SlideReader:
    """A real image opened with the kit's reader: PNG/JPEG as a TIFF copy at ``mpp`` in ``work``, slide files as
    they are (ConfigError if one carries no resolution)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:  # pictures: converted to a TIFF with a resolution first
        return open_image(path, mpp, work)
    slide = open_slide(path)
    if not slide.has_mpp:
        slide.close()
        raise ConfigError(f"{path}: the file records no resolution (microns per pixel); give it as PNG/JPEG or a TIFF")
    return slide


def read_real_negatives(paths: Sequence[Path], mpp: float, work: Path) -> list[SlideAnnotations]:
    """Every image ``paths`` name as an unannotated slide of domain ``real``, its ``path`` the file the kit reads
    (the TIFF copy in ``work`` for PNG/JPEG)."""
    if mpp <= 0:
        raise ConfigError(f"the real images' resolution must be positive microns per pixel, got {mpp:g}")
    slides = []
    for file in real_image_files(paths):
        with open_real_image(file, mpp, work) as slide:
            width, height = slide.dimensions
            slides.append(
                SlideAnnotations(file.name, width, height, domain=REAL_DOMAIN, split="train", path=slide.path)
            )
    return slides
