"""Fixtures for the stain tests: the real H&E images in ../shared/data/he.

The data is located by ``tests/conftest.py``'s ``shared_data`` fixture (the
``shared`` folder beside the checkout); tests skip with the path when it is
absent, and fail instead under CI (``KIT_REQUIRE_SHARED=1``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

HE_NAMES = ("torchstain-source", "torchstain-target", "staintools-before")


def load_he(he_dir: Path, name: str) -> np.ndarray:
    """A shared H&E image as uint8 RGB (H, W, 3)."""
    path = he_dir / f"{name}.png"
    if not path.is_file():
        message = f"shared H&E test image missing: {path}"
        if os.environ.get("KIT_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="session")
def he_images(shared_data: Path) -> dict[str, np.ndarray]:
    return {n: load_he(shared_data / "he", n) for n in HE_NAMES}


@pytest.fixture(scope="session")
def source_img(he_images) -> np.ndarray:
    return he_images["torchstain-source"]


@pytest.fixture(scope="session")
def target_img(he_images) -> np.ndarray:
    return he_images["torchstain-target"]


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    # The CI box has 2 cores shared with other jobs.
    old = torch.get_num_threads()
    torch.set_num_threads(min(old, 2))
    yield
    torch.set_num_threads(old)


def tiles_of(img: np.ndarray, size: int = 128, n: int = 4, seed: int = 0) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops of ``img`` as (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    ys = rng.integers(0, h - size, n)
    xs = rng.integers(0, w - size, n)
    return np.stack([img[y : y + size, x : x + size] for y, x in zip(ys, xs, strict=False)])


@pytest.fixture(scope="session")
def make_tiles():
    """The :func:`tiles_of` helper, as a fixture (test modules do not import conftest)."""
    return tiles_of
