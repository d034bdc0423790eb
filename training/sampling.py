"""What the patch samplers share: domain-balanced slide choice, and per slide, once each,
an open reader, its pixel transform (stain normalisation) and its tissue cells.

With several domains (scanners), the domain is drawn first and uniformly, then a
slide within it: batches are domain-balanced whatever the slide counts per scanner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algorithm.engine.run import TileTransform as BatchTransform
from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.tissue import tissue_mask
from training.stain_target import TransformFactory


def random_cell_point(
    cells: NDArray[np.int64], downsample: tuple[float, float], rng: np.random.Generator
) -> NDArray[np.float64]:
    """A uniform level-0 point inside a random one of ``cells`` (mask ``(row, col)`` pixels)."""
    row, col = cells[rng.integers(len(cells))]
    return np.array([(col + rng.random()) * downsample[0], (row + rng.random()) * downsample[1]])


class SlideSampler:
    """Base of the samplers; ``slides`` need ``path`` and ``domain`` attributes."""

    def __init__(self, slides: Sequence[Any], transform_factory: TransformFactory | None = None) -> None:
        """``transform_factory`` builds each slide's pixel transform once (its stain normalisation)."""
        if not slides:
            raise ConfigError("no training slides given")
        self.slides = slides
        self._transform_factory = transform_factory
        self._readers: dict[int, SlideReader] = {}
        self._transforms: dict[int, BatchTransform] = {}
        self._tissue: dict[int, tuple[NDArray[np.int64], tuple[float, float]]] = {}
        by_domain: dict[str | None, list[int]] = defaultdict(list)
        for i, s in enumerate(slides):
            by_domain[s.domain].append(i)
        self.domains = sorted(by_domain, key=str)
        self._by_domain = {d: by_domain[d] for d in self.domains}

    def pick(self, rng: np.random.Generator) -> int:
        """A slide index: a uniform domain, then a uniform slide of it."""
        domain = self.domains[rng.integers(len(self.domains))]
        return int(rng.choice(self._by_domain[domain]))

    def reader(self, i: int) -> SlideReader:
        """Slide ``i``'s reader, opened on first use and kept open (patches come from the same slides over and over)."""
        if i not in self._readers:
            path = self.slides[i].path
            if path is None:
                raise ConfigError(f"{self.slides[i].file_name}: slide file not located")
            self._readers[i] = open_slide(path)
        return self._readers[i]

    def read(self, i: int, x: int, y: int, extent: int, size: int, transform: bool = True) -> NDArray[np.uint8]:
        """``extent`` level-0 pixels at ``(x, y)`` as a ``size`` square patch, transformed (``transform=False``: as
        the slide stores them, for :meth:`transform` later)."""
        pixels = self.reader(i).read_extent((x, y), (extent, extent), (size, size))
        return self.transform(i, pixels) if transform else pixels

    def transform(self, i: int, pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """``(h, w, 3)`` pixels through slide ``i``'s pixel transform (its stain normalisation), if any."""
        if self._transform_factory is None:
            return pixels
        if i not in self._transforms:
            self._transforms[i] = self._transform_factory(self.reader(i))
        return self._transforms[i](pixels[None])[0]

    def random_tissue_point(self, i: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """A level-0 point in the slide's tissue (anywhere on the slide if it has none)."""
        if i not in self._tissue:
            mask = tissue_mask(self.reader(i))
            self._tissue[i] = (np.argwhere(mask.mask), mask.downsample)
        cells, downsample = self._tissue[i]
        if len(cells) == 0:
            w, h = self.reader(i).dimensions
            return rng.uniform([0, 0], [w, h])
        return random_cell_point(cells, downsample, rng)

    def close(self) -> None:
        """Close every slide opened so far."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
