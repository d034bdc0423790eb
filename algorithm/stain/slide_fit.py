"""Fitting a normaliser's source once per slide, from tiles sampled inside the tissue mask.

Why tiles at the analysis level rather than a thumbnail: a low-resolution
level averages nuclei with the stroma around them, which pulls the OD cloud
towards its mean. The Macenko/Vahadane directions and, above all, the 99th
percentile concentrations then come out smaller than on the tiles that will be
normalised, and every tile is over-scaled. Reading a few dozen tiles at the
level the model reads keeps the statistics of the pixels being normalised.

:func:`slide_normaliser` is what a job does per slide and per model: the
normaliser of the model's :class:`~algorithm.stain.spec.StainSpec` (the target
it was trained to), its source fitted to the slide. A slide too poor in tissue
to fit is left as it is, with a warning: the model still runs.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from algorithm.device import available_cpus
from algorithm.stain.base import Normaliser
from algorithm.stain.errors import StainFitError
from algorithm.stain.sampling import DEFAULT_N_PIXELS
from algorithm.stain.spec import StainSpec

if TYPE_CHECKING:  # for annotations only: the stain package does not depend on slides and masks
    from algorithm.slide.base import SlideReader
    from algorithm.tissue.mask import TissueMask

logger = logging.getLogger(__name__)

DEFAULT_N_TILES = 32
DEFAULT_TILE_SIZE = 256
# Scanners and crop tools pad past an image's edge with black (MIDOG 2025's crops: pure 0). A black pixel's
# optical density is the clip's in every channel, no stain at all: kept, it drags the stain vectors to grey and
# inflates the 99th-percentile concentrations, so every tile is rendered too pale (a crop 8 % padding: H 9.6
# against 3.3 without). Stained tissue is never this dark: the real crops' darkest pixels reach 33 in some channel.
PADDING_LEVEL = 16  # a pixel whose every channel is below this is padding, not stain


def sample_slide_pixels(
    slide: SlideReader,
    mask: TissueMask,
    n_pixels: int = DEFAULT_N_PIXELS,
    seed: int = 0,
    level: int = 0,
    n_tiles: int = DEFAULT_N_TILES,
    tile_size: int = DEFAULT_TILE_SIZE,
) -> np.ndarray:
    """Up to ``n_pixels`` tissue pixels ``(k, 3)`` uint8 from ``n_tiles`` tiles read at ``level``.

    ``slide``: an ``algorithm.slide`` reader; ``mask``: its
    ``algorithm.tissue.TissueMask`` (``mask`` bool array, ``downsample`` level-0
    pixels per mask pixel, ``(x, y)`` or a number). Tiles are centred on mask
    cells drawn at random (seeded) and only their pixels inside the mask count,
    black padding excepted (``PADDING_LEVEL``). Raises StainFitError when the
    mask is empty.
    """
    m = np.asarray(mask.mask, dtype=bool)
    sx, sy = _pair(mask.downsample)
    cells = np.argwhere(m)  # (row, col)
    if len(cells) == 0:
        name = getattr(slide, "path", "slide")
        raise StainFitError(f"{name}: the tissue mask is empty; no pixels to fit stain normalisation")
    rng = np.random.default_rng(seed)
    chosen = cells[rng.choice(len(cells), size=min(n_tiles, len(cells)), replace=False)]
    ds = float(slide.level_downsamples[level])
    span = tile_size * ds  # level-0 pixels a tile covers
    per_tile = max(1, -(-n_pixels // len(chosen)))
    corners = [
        (int(round((col + 0.5) * sx - span / 2)), int(round((row + 0.5) * sy - span / 2))) for row, col in chosen
    ]
    parts = []
    for (x0, y0), tile in zip(corners, _read_tiles(slide, corners, level, tile_size), strict=True):
        keep = _tile_mask(m, (sx, sy), x0, y0, ds, tile_size) & ~is_padding(tile)
        px = tile.reshape(-1, 3)[keep.reshape(-1)]
        if len(px) > per_tile:
            px = px[np.sort(rng.choice(len(px), size=per_tile, replace=False))]
        parts.append(px)
    pixels = np.concatenate(parts) if parts else np.zeros((0, 3), np.uint8)
    if len(pixels) > n_pixels:
        pixels = pixels[np.sort(rng.choice(len(pixels), size=n_pixels, replace=False))]
    return pixels


def is_padding(rgb: np.ndarray) -> np.ndarray:
    """Where uint8 RGB ``(..., 3)`` is black padding: every channel below ``PADDING_LEVEL``."""
    return np.asarray(rgb).max(axis=-1) < PADDING_LEVEL


def _read_tiles(slide: SlideReader, corners: list[tuple[int, int]], level: int, tile_size: int) -> list[np.ndarray]:
    """The tiles at ``corners`` (level-0 pixels), read in parallel where the reader allows it (a job's
    stain fit waited on 32 reads one after another), in the order given."""

    def read(corner: tuple[int, int]) -> np.ndarray:
        return slide.read_region(corner, level, (tile_size, tile_size))

    workers = min(len(corners), available_cpus()) if getattr(slide, "concurrent_reads", False) else 1
    if workers <= 1:
        return [read(corner) for corner in corners]
    with ThreadPoolExecutor(workers, thread_name_prefix="kit-stain-fit") as pool:
        return list(pool.map(read, corners))


def fit_to_slide(
    normaliser: Normaliser,
    slide: SlideReader,
    mask: TissueMask | None = None,
    n_pixels: int = DEFAULT_N_PIXELS,
    seed: int = 0,
    level: int = 0,
    n_tiles: int = DEFAULT_N_TILES,
    tile_size: int = DEFAULT_TILE_SIZE,
) -> Normaliser:
    """Fit ``normaliser``'s source to ``slide`` once (see :func:`sample_slide_pixels`); returns it.

    ``mask`` defaults to ``algorithm.tissue.tissue_mask(slide)``. Raises
    StainFitError, naming the slide and the pixel counts, when there is too
    little tissue.
    """
    if mask is None:
        from algorithm.tissue import tissue_mask

        mask = tissue_mask(slide)
    pixels = sample_slide_pixels(slide, mask, n_pixels, seed, level, n_tiles, tile_size)
    try:
        return normaliser.fit_source(pixels)
    except StainFitError as e:
        name = getattr(slide, "path", "slide")
        raise StainFitError(f"{name}: {e} ({len(pixels)} pixels sampled in the tissue mask)") from e


def slide_normaliser(
    spec: StainSpec | None,
    slide: SlideReader,
    mask: TissueMask,
    level: int,
    seed: int = 0,
    pixels: int | None = None,
) -> Normaliser | None:
    """The normaliser for ``slide``, its source fitted on tiles read at ``level`` (the level the model
    reads): call it on uint8 tiles, or let the tile engine run its map on the model's device. None when
    the model wants no normalisation, the slide cannot be fitted, or there is nothing to normalise
    (``pixels``, how many it would see, is 0)."""
    if spec is None or pixels == 0:
        return None
    normaliser = spec.normaliser()
    try:
        fit_to_slide(normaliser, slide, mask, seed=seed, level=level)
    except StainFitError as exc:
        logger.warning("stain normalisation skipped: %s", exc)
        return None
    return normaliser


def _pair(downsample: float | tuple[float, float]) -> tuple[float, float]:
    sx, sy = np.broadcast_to(np.asarray(downsample, dtype=np.float64), (2,))  # a number: the same for x and y
    return float(sx), float(sy)


def _tile_mask(
    mask: np.ndarray, downsample: tuple[float, float], x0: int, y0: int, ds: float, tile_size: int
) -> np.ndarray:
    """The tissue mask sampled at each pixel centre of a tile (outside the mask's extent: False)."""
    sx, sy = downsample
    centres = (np.arange(tile_size) + 0.5) * ds
    cols = np.floor((x0 + centres) / sx).astype(np.int64)
    rows = np.floor((y0 + centres) / sy).astype(np.int64)
    h, w = mask.shape
    ok_r = (rows >= 0) & (rows < h)
    ok_c = (cols >= 0) & (cols < w)
    out = mask[np.ix_(np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1))]
    return out & ok_r[:, None] & ok_c[None, :]
