"""Real mitotic figures as positives: crops of real figures blended into real tissue.

Synthetic figures are smooth, dark blobs; a real one is ragged chromatin in a
real cell beside real vesicular nuclei. A detector that has never been shown
a real figure finds none (the bundled model's best score on MIDOG 2025's 16
real crops is 0.05). Here a share of the positive patches is one of those
crops: its centre, a disc of radius drawn per patch, blended with a soft edge
into a real image's tissue (both read through the kit's reader at the
detector's resolution and stain-normalised as every patch is), and boxed as a
mitosis. Half the time the crop's stain density is first matched to the
tissue's (a crop normalised on its own pixels is paler than a normalised field).

A pasted disc has an edge a model could learn instead of the figure, so the
same share of the negative patches is real tissue with a disc of another real
image's tissue blended in the same way, with no box: a disc is then no
evidence either way.

Crops trained on cannot also measure recall on real figures: the crops are
split by page (``--real-figure-pages``), and the pages left out are the
held-out test (``detector-score --crops ... --pages``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from skimage.transform import SimilarityTransform, warp

from algorithm.errors import ConfigError
from algorithm.stain.optical_density import od_to_rgb, rgb_to_od
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.detector.crops import read_crop_stack, stack_pages, write_crop
from training.detector.paste import square_overlap

REAL_FIGURE_DOMAIN = "real-figure"  # the domain of real-figure crops
DISC_RADIUS_UM = (10.0, 15.0)  # a pasted disc's radius, drawn per paste (a 128 px crop at 0.25 um/px is 32 um)
FEATHER_UM = 1.5  # the width of a disc's soft edge


def read_real_figures(path: Path, pages: Sequence[int] | None, mpp: float, work: Path) -> list[SlideAnnotations]:
    """The chosen pages (1-based; all when None) of a TIFF stack of crops centred on real mitotic figures, each
    written once as a TIFF at ``mpp`` in ``work`` and listed as a slide with one mitosis at its centre."""
    if mpp <= 0:
        raise ConfigError(f"the real figures' resolution must be positive microns per pixel, got {mpp:g}")
    crops = read_crop_stack(path)
    chosen = stack_pages(path, len(crops), pages)
    work.mkdir(parents=True, exist_ok=True)
    slides = []
    for page in chosen:
        pixels = crops[page - 1]
        height, width = pixels.shape[:2]
        file = write_crop(pixels, mpp, work / f"{path.stem}-page{page:03d}.tiff")
        slides.append(
            SlideAnnotations(
                f"{path.name} page {page}",
                width,
                height,
                points=np.array([[width / 2, height / 2]]),
                labels=np.array([MITOSIS], np.int64),
                domain=REAL_FIGURE_DOMAIN,
                split="train",
                path=file,
            )
        )
    return slides


def match_stain_density(piece: NDArray[np.uint8], reference: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``piece`` with each channel's optical density scaled so that its median is ``reference``'s.

    A 32 um crop is stain-normalised on its own pixels, most of them one dark figure, and comes out paler than
    a whole field normalised the same way; matched to the tissue it is blended into, it looks as a figure in a
    normalised field does, and its paleness stops being a cue.
    """
    od_piece, od_reference = rgb_to_od(piece), rgb_to_od(reference)
    scale = np.median(od_reference.reshape(-1, 3), axis=0) / np.maximum(
        np.median(od_piece.reshape(-1, 3), axis=0), 1e-3
    )
    return np.asarray(od_to_rgb(od_piece * scale), dtype=np.uint8)


def rotate_and_scale(piece: NDArray[np.uint8], degrees: float, scale: float) -> NDArray[np.uint8]:
    """``piece`` (a square, a figure at its middle) turned by ``degrees`` and magnified by ``scale`` about its
    middle, the same size; bilinear, mirrored where the turn brings in what lies outside the piece.

    The eight flips and quarter turns of a patch leave a figure's size and its angle to the pixel grid as they
    were: 8 real figures are then 64 views. Any angle and a size drawn around the figure's own are what another
    cell cut at another angle, or another scanner's magnification, would show.
    """
    centre = (np.asarray(piece.shape[1::-1], np.float64) - 1) / 2
    # output -> input coordinates (what warp wants): about the middle, turned back and shrunk back
    to_input = (
        SimilarityTransform(translation=-centre)
        + SimilarityTransform(rotation=np.deg2rad(degrees), scale=1.0 / scale)
        + SimilarityTransform(translation=centre)
    )
    out = warp(piece, to_input, order=1, mode="symmetric", preserve_range=True)
    return np.asarray(np.clip(np.rint(out), 0, 255), dtype=np.uint8)


def disc_alpha(size: int, radius: float, feather: float) -> NDArray[np.float32]:
    """A ``(size, size)`` weight around the centre: 1 out to ``radius - feather / 2`` px, 0 from
    ``radius + feather / 2``, linear between."""
    centre = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    distance = np.hypot(xx - centre, yy - centre)
    return np.clip((radius + feather / 2 - distance) / max(feather, 1e-6), 0.0, 1.0).astype(np.float32)


def blend_disc(
    pixels: NDArray[np.uint8], piece: NDArray[np.uint8], centre: tuple[float, float], radius: float, feather: float
) -> NDArray[np.uint8]:
    """``pixels`` (H, W, 3) with the disc of ``radius`` px at the middle of the square ``piece`` blended in, its
    middle at ``centre`` (x, y in pixels; clipped at the edges)."""
    out = pixels.copy()
    where = square_overlap(piece.shape[0], centre, pixels.shape[:2])
    if where is None:
        return out
    dst, src = where
    alpha = disc_alpha(piece.shape[0], radius, feather)[..., None]
    under = pixels[dst].astype(np.float32)
    mixed = under + alpha[src] * (piece[src].astype(np.float32) - under)
    out[dst] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out
