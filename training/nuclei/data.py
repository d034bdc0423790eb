"""Nuclei training data: images with binary nuclei masks, read as the container reads its input.

A pair is an image (PNG, JPEG or TIFF) and a mask of the same size and stem in
the masks folder, or named ``<stem>.nuclei-mask.<ext>`` as the synthetic slide
generator writes it beside ``<stem>.tiff`` (``python -m training synth
--nuclei-masks``; the masks folder may then be the images folder). Masks are
any image format (TIFF masks, such as the generator's tiled ones, are read
with tifffile, the others with Pillow); foreground where the value is at
least half its type's range, so JPEG-compressed 0/255 masks threshold cleanly.
Images that are not TIFF are written once as lossless tiled TIFFs with their
resolution (``--image-mpp``, MoNuSeg's 40x is 0.25 um/px) into a work folder,
then opened with ``algorithm.slide.open_slide`` like a job's ROI: the same
reader, the same per-image stain normalisation, the same resampling to the
model's resolution. The full-resolution mask is kept for scoring on the
image's own grid; a box-averaged copy at the model's resolution is the
training target (fractions at nucleus borders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.io.readable import readable_file
from algorithm.slide import IMAGE_SUFFIXES as PICTURE_SUFFIXES
from algorithm.slide.base import SlideReader
from training.datasets.pictures import open_image
from training.stain_target import TransformFactory
from training.synth.nuclei_mask import NUCLEI_MASK_SUFFIX

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (*PICTURE_SUFFIXES, ".tif", ".tiff")  # the pictures Pillow opens, and TIFF images


@dataclass(frozen=True)
class NucleiPair:
    """An image file and its mask file."""

    name: str
    image: Path
    mask: Path


@dataclass
class NucleiImage:
    """An image at the model's resolution, normalised, with its nuclei target and full-resolution truth."""

    name: str
    path: Path  # the TIFF the container would read
    pixels: NDArray[np.uint8]  # (h, w, 3) at the model's mpp, stain-normalised
    target: NDArray[np.float32]  # (h, w) nuclei fraction of each pixel at the model's mpp
    truth: NDArray[np.bool_]  # (H, W) the mask on the image's own grid


def find_pairs(images: Path, masks: Path) -> list[NucleiPair]:
    """Images in ``images`` with their mask in ``masks``, sorted by name; ConfigError if none.

    The mask of ``<stem>.<ext>`` is ``<stem>.nuclei-mask.<any ext>`` (the synthetic slide
    generator's naming) or, when ``masks`` is another folder, ``<stem>.<any ext>``. Files
    named ``*.nuclei-mask.*`` are never images, so ``masks`` may be ``images`` (an identical
    stem there is another image, not a mask). Two masks for one image: ConfigError. Images without a mask are
    left out, named in a warning (files named ``*-mask`` are some other mask, such as the generator's tumour and
    tissue masks, and left out silently).
    """
    for folder in (images, masks):
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not a folder")
    beside = images.resolve() == masks.resolve()
    masks_of: dict[str, list[Path]] = {}
    for p in sorted(masks.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.stem.endswith(NUCLEI_MASK_SUFFIX):
            masks_of.setdefault(p.stem[: -len(NUCLEI_MASK_SUFFIX)], []).append(p)
        elif not beside:
            masks_of.setdefault(p.stem, []).append(p)
    pairs = []
    unmasked = []
    for p in sorted(images.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or p.stem.endswith(NUCLEI_MASK_SUFFIX):
            continue
        if p.stem not in masks_of:
            if not p.stem.endswith("-mask"):
                unmasked.append(p.name)
            continue
        found = masks_of[p.stem]
        if len(found) > 1:
            raise ConfigError(f"{p}: more than one mask for it in {masks}: {', '.join(m.name for m in found)}")
        pairs.append(NucleiPair(p.stem, p, found[0]))
    if unmasked and pairs:
        shown = ", ".join(unmasked[:5]) + (f" and {len(unmasked) - 5} more" if len(unmasked) > 5 else "")
        count = "1 image has" if len(unmasked) == 1 else f"{len(unmasked)} images have"
        logger.warning(f"{images}: {count} no mask in {masks}, left out: {shown}")
    if not pairs:
        raise ConfigError(
            f"{images}: no image with a mask in {masks} (<stem>{NUCLEI_MASK_SUFFIX}.<ext>"
            + (")" if beside else " or the image's own stem)")
        )
    return pairs


def read_mask(path: Path) -> NDArray[np.bool_]:
    """A binary mask: foreground where the value is at least half the type's range (0/1, 0/255 or 0/65535).

    TIFF (``.tif``/``.tiff``) through tifffile: its first page, tiled or not, BigTIFF too, so the
    generator's deflated tiled masks of any size read as they are written (Pillow would stop at its
    decompression-bomb limit, ~179 Mpx). Other formats through Pillow, colour converted to grey.
    """
    readable_file(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            array = _tiff_mask(path)
        else:
            with Image.open(path) as image:
                array = np.asarray(image.convert("L") if image.mode not in ("1", "L", "I;16", "I") else image)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the mask ({exc})") from exc
    if array.dtype == bool:
        return array
    top = 1 if array.max() <= 1 else (255 if array.max() <= 255 else 65535)
    return np.asarray(array >= (top + 1) / 2)


def _tiff_mask(path: Path) -> NDArray[Any]:
    """The first page of a TIFF mask as a 2-D array: grey as stored, colour averaged over its channels."""
    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ValueError("no image in the file")
        array = tif.asarray(key=0)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2:
        raise ValueError(f"expected a single-channel image, got shape {array.shape}")
    return array


def model_grid(slide: SlideReader, mpp: float) -> tuple[int, int]:
    """The image's size ``(w, h)`` at the model's ``mpp`` (rounded)."""
    ds = slide.downsample_for(mpp)
    w, h = slide.dimensions
    return max(1, int(round(w / ds))), max(1, int(round(h / ds)))


def load_image(
    pair: NucleiPair, model_mpp: float, image_mpp: float, work: Path, normalise: TransformFactory
) -> NucleiImage:
    """One pair read through the container's reader at the model's resolution and normalised."""
    truth = read_mask(pair.mask)
    with open_image(pair.image, image_mpp, work) as slide:
        path = slide.path
        if truth.shape != (slide.dimensions[1], slide.dimensions[0]):
            raise ConfigError(
                f"{pair.mask}: mask is {truth.shape[1]}x{truth.shape[0]} px, its image "
                f"{slide.dimensions[0]}x{slide.dimensions[1]}"
            )
        size = model_grid(slide, model_mpp)
        pixels = normalise(slide)(slide.read_rect((0, 0), size, model_mpp))
    target = Image.fromarray(truth.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return NucleiImage(pair.name, path, np.asarray(pixels), np.asarray(target, dtype=np.float32), truth)
