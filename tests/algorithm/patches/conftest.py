"""A composed slide whose regions are known: glass, cellular tissue, eosin-only tissue, blood, a fragment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algorithm.patches import REFERENCE_STAIN_MATRIX, PatchOptions
from algorithm.slide import SlideReader, open_slide
from tests.conftest import write_pyramid_tiff

MPP = 0.5  # level 0
PATCH = 96  # patch side at 1 um/px: 192 level-0 pixels, 24 pixels of the 4 um/px filter view
EXTENT = 192
COLS, ROWS = 8, 6
GLASS = (240.0, 238.0, 244.0)  # a tinted glass, as scanners give
BLOOD = (185.0, 40.0, 50.0)  # red cells: what the HER2 study's red filter drops

# Regions in patch units (column, row): everything in columns >= 2 is cellular tissue unless listed.
EOSIN_ONLY = [(3, 1), (4, 1), (3, 2), (4, 2)]
BLOODY = [(6, 3), (7, 3), (6, 4), (7, 4)]
FRAGMENT = (0, 5)  # one patch of cellular tissue alone in the glass


def patch_options(**kw: Any) -> PatchOptions:
    """The defaults at the composed slide's patch size."""
    return PatchOptions(size=PATCH, **kw)


def render(h: np.ndarray, e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Beer-Lambert with the reference H&E vectors over the tinted glass, with sensor noise."""
    od = h[..., None] * REFERENCE_STAIN_MATRIX[0] + e[..., None] * REFERENCE_STAIN_MATRIX[1]
    rgb = np.asarray(GLASS) * np.exp(-od) + rng.normal(0.0, 2.0, od.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def composed_image(seed: int = 0, tissue: bool = True) -> np.ndarray:
    """The composed slide's level 0 (``tissue=False``: glass only)."""
    rng = np.random.default_rng(seed)
    height, width = ROWS * EXTENT, COLS * EXTENT
    region = np.zeros((ROWS, COLS), dtype="<U6")
    if tissue:
        region[:, 2:] = "cells"
        for c, r in EOSIN_ONLY:
            region[r, c] = "eosin"
        for c, r in BLOODY:
            region[r, c] = "blood"
        region[FRAGMENT[1], FRAGMENT[0]] = "cells"
    per_pixel = np.repeat(np.repeat(region, EXTENT, axis=0), EXTENT, axis=1)
    cells, eosin = per_pixel == "cells", per_pixel == "eosin"
    h = np.zeros((height, width))
    e = np.zeros((height, width))
    e[cells] = 0.3 + 0.05 * rng.standard_normal(cells.sum())
    h[cells] = 0.05
    e[eosin] = 0.5 + 0.08 * rng.standard_normal(eosin.sum())
    # nuclei: discs of 8 um across, about one per 20 x 20 um of cellular tissue
    yy, xx = np.mgrid[-8:9, -8:9]
    disc = xx**2 + yy**2 <= 64
    for y, x in rng.integers(0, (height, width), size=(height * width // 1600, 2)):
        if cells[y, x] and 8 <= y < height - 8 and 8 <= x < width - 8:
            h[y - 8 : y + 9, x - 8 : x + 9][disc] = 1.0 + 0.1 * rng.standard_normal()
    image = render(h, e, rng)
    blood = per_pixel == "blood"
    image[blood] = np.clip(np.asarray(BLOOD) + rng.normal(0.0, 8.0, (blood.sum(), 3)), 0, 255).astype(np.uint8)
    return image


def write_composed(path: Path, tissue: bool = True) -> Path:
    return write_pyramid_tiff(path, composed_image(tissue=tissue), mpp=MPP, tile=128, levels=3)


@pytest.fixture(scope="session")
def composed_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composed(tmp_path_factory.mktemp("patches") / "composed.tiff")


@pytest.fixture()
def composed(composed_path: Path) -> Iterator[SlideReader]:
    with open_slide(composed_path) as slide:
        yield slide


def candidate(column: int, row: int) -> int:
    """A patch's index in the full row-major grid."""
    return row * COLS + column
