"""Shared fixtures: the real test data beside the checkout, and small slide files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; CI sets KIT_REQUIRE_SHARED=1 so its absence fails there instead of skipping."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("KIT_REQUIRE_SHARED") == "1":
            pytest.fail(f"test data missing: {SHARED_DATA}")
        pytest.skip(f"test data not found at {SHARED_DATA}")
    return SHARED_DATA


def write_pyramid_tiff(
    path: Path,
    image: np.ndarray,
    mpp: float | None = 0.5,
    tile: int = 64,
    levels: int = 3,
    compression: str | None = "deflate",
) -> Path:
    """A pyramidal tiled TIFF (levels as successive reduced pages, as OpenSlide reads them)."""

    def write(tif: tifffile.TiffWriter, data: np.ndarray, factor: int, subfiletype: int | None) -> None:
        # tifffile's defaults are None: without mpp, a page gets no resolution tags at all.
        resolution = None if mpp is None else (1e4 / mpp / factor, 1e4 / mpp / factor)
        tif.write(
            data,
            tile=(tile, tile),
            photometric="rgb",
            compression=compression,
            subfiletype=subfiletype,
            resolution=resolution,
            resolutionunit=None if resolution is None else "CENTIMETER",
        )

    with tifffile.TiffWriter(path) as tif:
        write(tif, image, 1, None)
        for level in range(1, levels):
            f = 2**level
            write(tif, shrink(image, f), f, 1)  # subfiletype 1: a reduced-resolution page
    return path


def blob_image(width: int = 600, height: int = 400, seed: int = 0) -> np.ndarray:
    """White glass with one pink-purple elliptical 'tissue' blob and some texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((xx - width * 0.4) / (width * 0.25)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2 < 1
    image = np.full((height, width, 3), 242, dtype=np.uint8)
    tissue = np.array([200, 120, 180], dtype=np.float64) + rng.normal(0, 12, (height, width, 3))
    image[inside] = np.clip(tissue[inside], 0, 255).astype(np.uint8)
    return image


@pytest.fixture()
def blob() -> np.ndarray:
    return blob_image()


def shrink(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average by an integer factor, as scanners build their pyramids."""
    h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, -1).astype(np.float32)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


@pytest.fixture(scope="session")
def synthetic_slide(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic H&E slide with its truth files (training.synth), made once per session."""
    from training.synth import SynthConfig, generate_slide

    config = SynthConfig(seed=21, width=3072, height=2048, label="tumour", mitoses=10, imposters=10, scanner="B")
    return generate_slide(config, tmp_path_factory.mktemp("synthetic-slide"))
