"""The colour tables: de-duplication and the memoised table's fills, few colours and many."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.stain import get_normaliser
from algorithm.stain.pixel_map import CPU_CHUNK, MemoTable, PixelMap, distinct
from tests.conftest import blob_image


@pytest.mark.parametrize("n", [1, 2, 1000, 200_000])
def test_distinct_is_numpys_unique(n: int) -> None:
    values = np.random.default_rng(n).integers(0, 1 << 24, n // 3 + 1).astype(np.int32)
    repeats = values[np.random.default_rng(0).integers(0, len(values), n)]
    np.testing.assert_array_equal(distinct(repeats), np.unique(repeats))


class _Inverted(PixelMap):
    """A torch-only map (no numpy entry of its own): the base class's numpy wrapper serves the table."""

    def apply(self, px: torch.Tensor) -> torch.Tensor:
        return (255 - px).flip(1)


def _colours(n: int, seed: int) -> np.ndarray:
    """``n`` pixels of about ``n / 4`` colours (each repeated, as in a tile)."""
    palette = np.random.default_rng(seed).integers(0, 256, (max(1, n // 4), 3), dtype=np.uint8)
    return palette[np.random.default_rng(seed + 1).integers(0, len(palette), n)]


@pytest.mark.parametrize("kind", ["stain", "torch-only"])
def test_memo_fills_of_few_and_of_many_colours_equal_the_direct_map(kind: str) -> None:
    """A tile's few new colours take the map's numpy entry with their repeats; a slide's first tiles'
    many are de-duplicated and mapped in chunks. Both store exactly the direct map's words."""
    if kind == "stain":
        normaliser = get_normaliser("macenko").fit(blob_image(300, 200, seed=4))
        pixel_map = normaliser.fit_source(blob_image(200, 200, seed=7)).fixed_map("cpu")
    else:
        pixel_map = _Inverted()
    table = MemoTable(pixel_map)
    few, many = _colours(CPU_CHUNK // 2, 1), _colours(CPU_CHUNK * 8, 2)
    for pixels in (few, many, np.concatenate([few, many, _colours(3000, 3)])):
        direct = pixel_map(torch.from_numpy(pixels)).numpy()
        np.testing.assert_array_equal(table(torch.from_numpy(pixels)).numpy(), direct)
        np.testing.assert_array_equal(pixel_map.apply_numpy(pixels), direct)
    assert table.filled == len(np.unique(np.concatenate([few, many, _colours(3000, 3)]), axis=0))
