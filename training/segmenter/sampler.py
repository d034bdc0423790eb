"""Training patches for the tumour segmenter: pixels and the tumour mask under them.

Domains (scanners) are drawn first and uniformly, then a slide. On a tumour
slide, ``tumour_fraction`` of the patches are centred on a random tumour
pixel; the rest fall anywhere in tissue, so tumour edges, normal tissue and
glass are all seen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.tiling import read_resampled
from algorithm.tiling.stream import BatchTransform
from algorithm.tissue import tissue_mask
from training.datasets.tumour import TumourSlide
from training.stain import TransformFactory


@dataclass
class MaskPatch:
    pixels: NDArray[np.uint8]  # (H, W, 3)
    target: NDArray[np.float32]  # (H, W) tumour coverage, 0..1
    slide: int


class MaskPatchSampler:
    def __init__(self, slides: list[TumourSlide], tile_size: int, mpp: float,
                 transform_factory: TransformFactory | None = None, tumour_fraction: float = 0.5) -> None:
        if not slides:
            raise ConfigError("no training slides given")
        self.slides, self.tile_size, self.mpp = slides, tile_size, mpp
        self.tumour_fraction = tumour_fraction
        self._transform_factory = transform_factory
        self._readers: dict[int, SlideReader] = {}
        self._transforms: dict[int, BatchTransform] = {}
        self._tissue: dict[int, tuple[NDArray[np.int64], tuple[float, float]]] = {}
        self._tumour: dict[int, NDArray[np.int64]] = {}
        by_domain: dict[str | None, list[int]] = defaultdict(list)
        for i, s in enumerate(slides):
            by_domain[s.domain].append(i)
        self.domains = sorted(by_domain, key=str)
        self._by_domain = {d: by_domain[d] for d in self.domains}

    def _reader(self, i: int) -> SlideReader:
        if i not in self._readers:
            self._readers[i] = open_slide(self.slides[i].path)
        return self._readers[i]

    def _point(self, cells: NDArray[np.int64], downsample: tuple[float, float], rng: np.random.Generator):
        row, col = cells[rng.integers(len(cells))]
        return np.array([(col + rng.random()) * downsample[0], (row + rng.random()) * downsample[1]])

    def _centre(self, i: int, rng: np.random.Generator) -> NDArray[np.float64]:
        slide = self.slides[i]
        if slide.label and rng.random() < self.tumour_fraction:
            if i not in self._tumour:
                self._tumour[i] = np.argwhere(slide.mask)
            return self._point(self._tumour[i], slide.mask_downsample, rng)
        if i not in self._tissue:
            mask = tissue_mask(self._reader(i))
            self._tissue[i] = (np.argwhere(mask.mask), mask.downsample)
        cells, downsample = self._tissue[i]
        if len(cells) == 0:
            return rng.uniform([0, 0], [slide.width, slide.height])
        return self._point(cells, downsample, rng)

    def _target(self, i: int, x: int, y: int, extent: int) -> NDArray[np.float32]:
        """The mask at the patch pixels' centres (nearest mask pixel); past the slide's edges, no tumour."""
        slide = self.slides[i]
        sx, sy = slide.mask_downsample
        centres = (np.arange(self.tile_size) + 0.5) * (extent / self.tile_size)
        rows = np.floor((centres + y) / sy).astype(np.int64)
        cols = np.floor((centres + x) / sx).astype(np.int64)
        h, w = slide.mask.shape
        target = slide.mask[np.ix_(rows.clip(0, h - 1), cols.clip(0, w - 1))].astype(np.float32)
        target[(rows < 0) | (rows >= h)] = 0.0
        target[:, (cols < 0) | (cols >= w)] = 0.0
        return target

    def sample(self, rng: np.random.Generator) -> MaskPatch:
        domain = self.domains[rng.integers(len(self.domains))]
        i = int(rng.choice(self._by_domain[domain]))
        reader = self._reader(i)
        extent = int(round(self.tile_size * self.mpp / float(np.mean(reader.mpp))))
        centre = self._centre(i, rng) + rng.uniform(-0.25, 0.25, 2) * extent
        x, y = int(round(centre[0] - extent / 2)), int(round(centre[1] - extent / 2))
        pixels = read_resampled(reader, x, y, (extent, extent), (self.tile_size, self.tile_size))
        if self._transform_factory is not None:
            if i not in self._transforms:
                self._transforms[i] = self._transform_factory(reader)
            pixels = self._transforms[i](pixels[None])[0]
        return MaskPatch(pixels, self._target(i, x, y, extent), i)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def augment(patch: MaskPatch, rng: np.random.Generator) -> MaskPatch:
    """One of the square's eight symmetries, applied to pixels and target alike."""
    pixels, target = patch.pixels, patch.target
    if rng.random() < 0.5:
        pixels, target = pixels[:, ::-1], target[:, ::-1]
    if rng.random() < 0.5:
        pixels, target = pixels[::-1], target[::-1]
    if rng.random() < 0.5:
        pixels, target = pixels.transpose(1, 0, 2), target.T
    return MaskPatch(np.ascontiguousarray(pixels), np.ascontiguousarray(target), patch.slide)
