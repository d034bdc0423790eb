"""Training patches for the detector, sampled as in MIDOG's baseline.

Half the patches are centred (with jitter) on a random mitotic figure; the rest
fall at random within tissue, some of them centred on an imposter so the model
meets the hard negatives TUPAC and MIDOG warn about. Slides are drawn
domain-balanced (``training.sampling``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.datasets.annotations import SlideAnnotations
from training.sampling import SlideSampler
from training.stain_target import TransformFactory


@dataclass(frozen=True)
class SamplingConfig:
    """How patches are drawn: their size and resolution, and how often one is centred on a cell of each class."""

    tile_size: int = 512
    mpp: float = 0.5  # the detector's resolution
    mitosis_fraction: float = 0.5
    imposter_fraction: float = 0.15  # of all patches: centred on an imposter
    jitter: float = 0.35  # max offset of the centred cell from the patch centre, in tile sizes


@dataclass
class Patch:
    """One training patch and its cell boxes, in the patch's own pixels."""

    pixels: NDArray[np.uint8]  # (H, W, 3)
    boxes: NDArray[np.float32]  # (K, 4) x1, y1, x2, y2 in patch pixels
    labels: NDArray[np.int64]  # (K,)
    slide: int  # index into the sampler's slides
    domain: str | None


class PatchSampler(SlideSampler):
    """Draws detector training patches from annotated slides, balanced over domains and cell classes."""

    def __init__(
        self, slides: list[SlideAnnotations], config: SamplingConfig, transform_factory: TransformFactory | None = None
    ) -> None:
        super().__init__(slides, transform_factory)
        self.config = config

    def sample(self, rng: np.random.Generator) -> Patch:
        """One patch: centred (with jitter) on a mitosis, an imposter or a random tissue point, as the fractions say."""
        i = self.pick(rng)
        ann = self.slides[i]
        scale = self.reader(i).downsample_for(self.config.mpp)  # level-0 px per patch px
        extent = int(round(self.config.tile_size * scale))
        u = rng.random()
        if u < self.config.mitosis_fraction and len(ann.mitoses):
            centre = ann.mitoses[rng.integers(len(ann.mitoses))]
        elif u < self.config.mitosis_fraction + self.config.imposter_fraction and len(ann.imposters):
            centre = ann.imposters[rng.integers(len(ann.imposters))]
        else:
            centre = self.random_tissue_point(i, rng)
        offset = rng.uniform(-self.config.jitter, self.config.jitter, 2) * extent
        x = int(round(centre[0] + offset[0] - extent / 2))
        y = int(round(centre[1] + offset[1] - extent / 2))
        pixels = self.read(i, x, y, extent, self.config.tile_size)
        boxes, labels = self._targets(ann, x, y, extent, scale)
        return Patch(pixels=pixels, boxes=boxes, labels=labels, slide=i, domain=ann.domain)

    def _targets(
        self, ann: SlideAnnotations, x: int, y: int, extent: int, scale: float
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        inside = (
            (ann.points[:, 0] >= x)
            & (ann.points[:, 0] < x + extent)
            & (ann.points[:, 1] >= y)
            & (ann.points[:, 1] < y + extent)
        )
        centres = (ann.points[inside] - [x, y]) / scale
        half = ann.box_size / scale / 2
        size = self.config.tile_size
        boxes = np.concatenate([centres - half, centres + half], axis=1).clip(0, size).astype(np.float32)
        return boxes.reshape(-1, 4), ann.labels[inside].astype(np.int64)


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
