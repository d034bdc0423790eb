"""Training patches for the detector, sampled as in MIDOG's baseline.

Half the patches are centred (with jitter) on a random mitotic figure; the rest
fall at random within tissue, some of them centred on an imposter so the model
meets the hard negatives TUPAC and MIDOG warn about. With several domains
(scanners), the domain is drawn first and uniformly: batches are
domain-balanced whatever the slide counts per scanner.
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
from algorithm.tissue import TissueMask, tissue_mask
from algorithm.tiling.stream import BatchTransform
from training.datasets.annotations import SlideAnnotations
from training.stain import TransformFactory


@dataclass(frozen=True)
class SamplingConfig:
    tile_size: int = 512
    mpp: float = 0.5  # the detector's resolution
    mitosis_fraction: float = 0.5
    imposter_fraction: float = 0.15  # of all patches: centred on an imposter
    jitter: float = 0.35  # max offset of the centred cell from the patch centre, in tile sizes


@dataclass
class Patch:
    pixels: NDArray[np.uint8]  # (H, W, 3)
    boxes: NDArray[np.float32]  # (K, 4) x1, y1, x2, y2 in patch pixels
    labels: NDArray[np.int64]  # (K,)
    slide: int  # index into the sampler's slides
    domain: str | None


class PatchSampler:
    def __init__(
        self, slides: list[SlideAnnotations], config: SamplingConfig, transform_factory: TransformFactory | None = None
    ) -> None:
        """``transform_factory`` builds each slide's pixel transform once (its stain normalisation)."""
        if not slides:
            raise ConfigError("no training slides given")
        self.slides = slides
        self.config = config
        self._transform_factory = transform_factory
        self._transforms: dict[int, BatchTransform] = {}
        self._readers: dict[int, SlideReader] = {}
        self._masks: dict[int, TissueMask] = {}
        self._tissue_cells: dict[int, NDArray[np.int64]] = {}
        by_domain: dict[str | None, list[int]] = defaultdict(list)
        for i, s in enumerate(slides):
            by_domain[s.domain].append(i)
        self.domains = sorted(by_domain, key=str)
        self._by_domain = {d: by_domain[d] for d in self.domains}

    def reader(self, i: int) -> SlideReader:
        if i not in self._readers:
            path = self.slides[i].path
            if path is None:
                raise ConfigError(f"{self.slides[i].file_name}: slide file not located")
            self._readers[i] = open_slide(path)
        return self._readers[i]

    def _tissue(self, i: int) -> tuple[TissueMask, NDArray[np.int64]]:
        if i not in self._masks:
            mask = tissue_mask(self.reader(i))
            self._masks[i] = mask
            self._tissue_cells[i] = np.argwhere(mask.mask)
        return self._masks[i], self._tissue_cells[i]

    def sample(self, rng: np.random.Generator) -> Patch:
        domain = self.domains[rng.integers(len(self.domains))]
        i = int(rng.choice(self._by_domain[domain]))
        ann = self.slides[i]
        reader = self.reader(i)
        scale = self.config.mpp / float(np.mean(reader.mpp))  # level-0 px per patch px
        extent = int(round(self.config.tile_size * scale))
        u = rng.random()
        if u < self.config.mitosis_fraction and len(ann.mitoses):
            centre = ann.mitoses[rng.integers(len(ann.mitoses))]
        elif u < self.config.mitosis_fraction + self.config.imposter_fraction and len(ann.imposters):
            centre = ann.imposters[rng.integers(len(ann.imposters))]
        else:
            centre = self._random_tissue_point(i, rng)
        offset = rng.uniform(-self.config.jitter, self.config.jitter, 2) * extent
        x = int(round(centre[0] + offset[0] - extent / 2))
        y = int(round(centre[1] + offset[1] - extent / 2))
        pixels = read_resampled(reader, x, y, (extent, extent), (self.config.tile_size,) * 2)
        if self._transform_factory is not None:
            if i not in self._transforms:
                self._transforms[i] = self._transform_factory(reader)
            pixels = self._transforms[i](pixels[None])[0]
        boxes, labels = self._targets(ann, x, y, extent, scale)
        return Patch(pixels=pixels, boxes=boxes, labels=labels, slide=i, domain=ann.domain)

    def _random_tissue_point(self, i: int, rng: np.random.Generator) -> NDArray[np.float64]:
        mask, cells = self._tissue(i)
        if len(cells) == 0:  # no tissue found: anywhere on the slide
            w, h = self.reader(i).dimensions
            return rng.uniform([0, 0], [w, h])
        row, col = cells[rng.integers(len(cells))]
        sx, sy = mask.downsample
        return np.array([(col + rng.random()) * sx, (row + rng.random()) * sy])

    def _targets(
        self, ann: SlideAnnotations, x: int, y: int, extent: int, scale: float
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        inside = (
            (ann.points[:, 0] >= x) & (ann.points[:, 0] < x + extent)
            & (ann.points[:, 1] >= y) & (ann.points[:, 1] < y + extent)
        )
        centres = (ann.points[inside] - [x, y]) / scale
        half = ann.box_size / scale / 2
        size = self.config.tile_size
        boxes = np.concatenate([centres - half, centres + half], axis=1).clip(0, size).astype(np.float32)
        return boxes.reshape(-1, 4), ann.labels[inside].astype(np.int64)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def augment(patch: Patch, rng: np.random.Generator) -> Patch:
    """Random flips and 90-degree rotations, boxes moved with the pixels."""
    pixels, boxes = patch.pixels, patch.boxes.copy()
    size = pixels.shape[1]
    if rng.random() < 0.5:  # horizontal flip
        pixels = pixels[:, ::-1]
        boxes[:, [0, 2]] = size - boxes[:, [2, 0]]
    if rng.random() < 0.5:  # vertical flip
        pixels = pixels[::-1]
        boxes[:, [1, 3]] = size - boxes[:, [3, 1]]
    if rng.random() < 0.5:  # transpose: with the flips, all eight symmetries of the square
        pixels = pixels.transpose(1, 0, 2)
        boxes = boxes[:, [1, 0, 3, 2]]
    return Patch(np.ascontiguousarray(pixels), boxes, patch.labels, patch.slide, patch.domain)
