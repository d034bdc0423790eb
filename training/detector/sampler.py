"""Training patches for the detector, sampled as in MIDOG's baseline.

Half the patches are centred (with jitter) on a random mitotic figure; the rest
fall at random within tissue, some of them centred on an imposter so the model
meets the hard negatives TUPAC and MIDOG warn about. With a
:class:`~training.detector.hard_negatives.HardNegativePool`, a share of the
negative patches is centred on the model's own mined false positives instead
(the existing negatives while the pool is empty). A share of the negatives
is centred on the slide's confounders (look-alikes the synthetic truth lists:
pyknotic and apoptotic cells, plasma cells, lymphocyte clusters...; no box, they
are background), and a share comes from real H&E images without labels
(``training.datasets.real_negatives``: no boxes, their tissue anywhere), so the
model meets real tissue. The shares of the negatives (hard, real, confounder)
are taken in that order from one draw; what is left, or a share whose source
is missing, falls back to an imposter or a random tissue point. With every
share 0 (the dataclass's default) no draw is made: a seed gives the patches it
gave before the shares existed. With a :class:`~training.detector.paste.FigurePaster`
and real images, a share of the *positive* patches is a real image's tissue with a
synthetic figure pasted in (``training.detector.paste``): positives in real context.
With crops of real mitotic figures, a share of the positive patches is a real image's
tissue with a real figure's disc blended in, and the same share of the negatives is real
tissue with a disc of other real tissue blended in, unboxed (``training.detector.real_figures``).
A share of all patches (``island_fraction``) is cut to a small square island of tissue
around the cell it is centred on, glass around it: a small image (a crop of a high-power
field, like MIDOG 2025's 32 um crops of real figures) reaches a job as a tile of glass
with a little tissue, a context the slides never show.
Slides are drawn domain-balanced (``training.sampling``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.slide.base import WHITE
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.detector.hard_negatives import HardNegativePool
from training.detector.paste import FigurePaster
from training.detector.real_figures import (
    DISC_RADIUS_UM,
    FEATHER_UM,
    blend_disc,
    match_stain_density,
    rotate_and_scale,
)
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
    hard_negative_fraction: float = 0.0  # of the negative patches: centred on a mined false positive (pool given)
    real_fraction: float = 0.0  # of the negative patches: from a real image's tissue, no boxes (real images given)
    confounder_fraction: float = 0.0  # of the negative patches: centred on a confounder of the slide (if it has any)
    pasted_fraction: float = 0.0  # of the mitosis patches: a real image's tissue, a synthetic figure pasted in
    pasted_box_um: float = 12.5  # a pasted figure's box side (MIDOG's 50 px at 0.25 um/px)
    # of the mitosis patches: a real figure's disc blended into a real image's tissue (real figures given); the
    # same share of the negatives is real tissue with a disc of other real tissue blended in, unboxed
    real_figure_fraction: float = 0.0
    # blend a real figure's disc into the real image's stored pixels and normalise the whole patch with the
    # image's own fit, as a job sees a figure in a slide (else: each normalised on its own fit, then blended)
    real_figure_raw: bool = False
    # a real figure turned by a random angle and magnified by up to +/- this share before it is blended (0: as
    # read): 8 real figures are otherwise 8 sizes at 8 angles to the pixel grid (real_figures.rotate_and_scale)
    real_figure_warp: float = 0.0
    island_fraction: float = 0.0  # of all patches: cut to a small tissue island around their cell, glass around
    island_um: tuple[float, float] = (24.0, 96.0)  # the island's side, drawn uniformly in this range (microns)

    def __post_init__(self) -> None:
        shares = {
            "hard-negative": self.hard_negative_fraction,
            "real-negative": self.real_fraction,
            "confounder": self.confounder_fraction,
        }
        problems = [f"the {name} share must be in [0, 1], got {v!r}" for name, v in shares.items() if not 0 <= v <= 1]
        if not 0 <= self.pasted_fraction <= 1:
            problems.append(f"the pasted-figure share must be in [0, 1], got {self.pasted_fraction!r}")
        if not 0 <= self.real_figure_fraction <= 1:
            problems.append(f"the real-figure share must be in [0, 1], got {self.real_figure_fraction!r}")
        if not 0 <= self.real_figure_warp < 1:
            problems.append(f"the real figures' size change must be in [0, 1), got {self.real_figure_warp!r}")
        if not 0 <= self.island_fraction <= 1:
            problems.append(f"the island share must be in [0, 1], got {self.island_fraction!r}")
        low, high = self.island_um
        if not 0 < low <= high:
            problems.append(f"the island's side range must be 0 < low <= high microns, got {low!r}:{high!r}")
        if self.pasted_fraction + self.real_figure_fraction > 1:
            problems.append(
                f"the pasted-figure and real-figure shares of the mitosis patches add up to "
                f"{self.pasted_fraction + self.real_figure_fraction:g}, more than 1"
            )
        if not problems and sum(shares.values()) > 1:
            problems.append(
                "the hard-negative, real-negative and confounder shares of the negative patches add up to "
                f"{sum(shares.values()):g}, more than 1"
            )
        if problems:
            raise ConfigError("invalid patch sampling: " + "; ".join(problems))


@dataclass
class Patch:
    """One training patch and its cell boxes, in the patch's own pixels."""

    pixels: NDArray[np.uint8]  # (H, W, 3)
    boxes: NDArray[np.float32]  # (K, 4) x1, y1, x2, y2 in patch pixels
    labels: NDArray[np.int64]  # (K,)
    slide: int  # index into the sampler's slides (its ``real`` sampler's for origin "real")
    domain: str | None
    # what the patch was centred on: "mitosis", "imposter", "hard" (pool), "confounder", "tissue", "real" (a real
    # image's tissue), "pasted" (a synthetic figure pasted into a real image's tissue), "real-figure" (a real
    # figure's disc blended into a real image's tissue) or "real-disc" (a disc of other real tissue, no box)
    origin: str = "tissue"
    focus: tuple[float, float] | None = None  # where that is, (x, y) in patch pixels
    island: bool = False  # cut to a tissue island with glass around it (SamplingConfig.island_fraction)


class PatchSampler(SlideSampler):
    """Draws detector training patches from annotated slides, balanced over domains and cell classes."""

    def __init__(
        self,
        slides: list[SlideAnnotations],
        config: SamplingConfig,
        transform_factory: TransformFactory | None = None,
        pool: HardNegativePool | None = None,
        real: list[SlideAnnotations] | None = None,
        paster: FigurePaster | None = None,
        figures: list[SlideAnnotations] | None = None,
    ) -> None:
        """``pool``: the mined false positives ``config.hard_negative_fraction`` of the negatives are drawn from;
        ``real``: unannotated real images ``config.real_fraction`` of them are drawn from (transformed alike), and
        ``config.pasted_fraction`` of the positives, ``paster`` pasting a figure into them; ``figures``: crops
        centred on real mitotic figures (``training.detector.real_figures``), ``config.real_figure_fraction`` of
        the positives blending one into a real image."""
        super().__init__(slides, transform_factory)
        self.config = config
        self.pool = pool
        self.real = SlideSampler(real, transform_factory) if real else None
        self.paster = paster
        self.figures = SlideSampler(figures, transform_factory) if figures else None

    def sample(self, rng: np.random.Generator) -> Patch:
        """One patch: centred (with jitter) on a mitosis, a mined false positive, a confounder, an imposter or a
        random tissue point, or a real image's tissue, as the fractions say; a share of them cut to an island."""
        patch = self._sample(rng)
        share = self.config.island_fraction
        if share > 0 and rng.random() < share:  # no draw without the share: the seeds' patches of before
            side = rng.uniform(*self.config.island_um) / self.config.mpp
            patch = island(patch, side, rng)
        return patch

    def _sample(self, rng: np.random.Generator) -> Patch:
        i = self.pick(rng)
        ann = self.slides[i]
        u = rng.random()
        if u < self.config.mitosis_fraction and len(ann.mitoses):
            w = rng.random() if self._blends() or self._pastes() else 1.0  # no draw without them, as before
            real_figures = self.config.real_figure_fraction if self._blends() else 0.0
            if w < real_figures:
                return self._real_figure_patch(rng)
            if self._pastes() and w < real_figures + self.config.pasted_fraction:
                return self._pasted_patch(rng)
            centre, origin = ann.mitoses[rng.integers(len(ann.mitoses))], "mitosis"
        else:
            if self._blends() and rng.random() < self.config.real_figure_fraction:
                return self._real_disc_patch(rng)  # as many as the real-figure positives: a disc is no cue
            c = self.config
            shares = c.hard_negative_fraction + c.real_fraction + c.confounder_fraction
            v = rng.random() if shares > 0 else 1.0  # no draw without shares: the seeds' patches of before
            real_from, confounder_from = c.hard_negative_fraction, c.hard_negative_fraction + c.real_fraction
            hard = self._hard_negative(i, rng) if v < real_from else None
            if hard is not None:
                (i, centre), origin = hard, "hard"
                ann = self.slides[i]
            elif real_from <= v < confounder_from and self.real is not None:
                return self._real_patch(rng)[0]
            elif confounder_from <= v < shares and len(ann.confounders):
                centre, origin = ann.confounders[rng.integers(len(ann.confounders))], "confounder"
            elif u < self.config.mitosis_fraction + self.config.imposter_fraction and len(ann.imposters):
                centre, origin = ann.imposters[rng.integers(len(ann.imposters))], "imposter"
            else:
                centre, origin = self.random_tissue_point(i, rng), "tissue"
        scale = self.reader(i).downsample_for(self.config.mpp)  # level-0 px per patch px
        extent = int(round(self.config.tile_size * scale))
        offset = rng.uniform(-self.config.jitter, self.config.jitter, 2) * extent
        x = int(round(centre[0] + offset[0] - extent / 2))
        y = int(round(centre[1] + offset[1] - extent / 2))
        pixels = self.read(i, x, y, extent, self.config.tile_size)
        boxes, labels = self._targets(ann, x, y, extent, scale)
        focus = (float((centre[0] - x) / scale), float((centre[1] - y) / scale))
        return Patch(pixels, boxes, labels, slide=i, domain=ann.domain, origin=origin, focus=focus)

    def _pastes(self) -> bool:
        return self.config.pasted_fraction > 0 and self.real is not None and self.paster is not None

    def _blends(self) -> bool:
        return self.config.real_figure_fraction > 0 and self.real is not None and self.figures is not None

    def _real_patch(
        self, rng: np.random.Generator, jitter: float = 0.0, size: int | None = None, transform: bool = True
    ) -> tuple[Patch, NDArray[np.float64]]:
        """A patch of a real image around a random point of its tissue (offset by up to ``jitter`` tile sizes),
        kept inside the image where it fits; no boxes (the image is unlabelled). Also the point, in patch pixels.
        ``size``: the patch's side in pixels (default the tile size); ``transform=False``: stored pixels."""
        assert self.real is not None, "a real patch without real images: a bug"
        size = size or self.config.tile_size
        j = self.real.pick(rng)
        centre = self.real.random_tissue_point(j, rng)
        reader = self.real.reader(j)
        scale = reader.downsample_for(self.config.mpp)
        extent = int(round(size * scale))
        offset = rng.uniform(-jitter, jitter, 2) * extent if jitter > 0 else np.zeros(2)
        width, height = reader.dimensions
        x = int(np.clip(round(centre[0] + offset[0] - extent / 2), 0, max(0, width - extent)))
        y = int(np.clip(round(centre[1] + offset[1] - extent / 2), 0, max(0, height - extent)))
        pixels = self.real.read(j, x, y, extent, size, transform)
        boxes, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        point = (centre - [x, y]) / scale
        focus = (float(point[0]), float(point[1]))
        patch = Patch(pixels, boxes, labels, slide=j, domain=self.real.slides[j].domain, origin="real", focus=focus)
        return patch, point

    def _pasted_patch(self, rng: np.random.Generator) -> Patch:
        """A real patch with a synthetic figure pasted at a point of its tissue, boxed as a mitosis."""
        assert self.paster is not None, "a pasted patch without figures: a bug"
        patch, (cx, cy) = self._real_patch(rng, self.config.jitter)
        pixels = self.paster(patch.pixels, (float(cx), float(cy)), rng)
        half = self.config.pasted_box_um / self.config.mpp / 2
        box = np.array([[cx - half, cy - half, cx + half, cy + half]], np.float32).clip(0, self.config.tile_size)
        labels = np.array([MITOSIS], np.int64)
        return dataclasses.replace(patch, pixels=pixels, boxes=box, labels=labels, origin="pasted")

    def _real_figure_patch(self, rng: np.random.Generator) -> Patch:
        """A real patch with a real figure's disc blended in at a point of its tissue, boxed as a mitosis."""
        assert self.figures is not None, "a real-figure patch without real figures: a bug"
        raw = self.config.real_figure_raw
        patch, (cx, cy) = self._real_patch(rng, self.config.jitter, transform=not raw)
        j = self.figures.pick(rng)
        width, height = self.figures.reader(j).dimensions
        side, size = self._figure_square(j)
        piece = self.figures.read(j, (width - side) // 2, (height - side) // 2, side, size, transform=not raw)
        if rng.random() < 0.5:
            piece = match_stain_density(piece, patch.pixels)
        warp, reach = self.config.real_figure_warp, 1.0
        if warp > 0:  # no draw without it: the seeds' patches of before
            scale = float(rng.uniform(1 - warp, 1 + warp))
            piece = rotate_and_scale(piece, float(rng.uniform(0, 360)), scale)
            reach = min(1.0, scale)  # a shrunk crop's own pixels reach this share of the way to its edge
        pixels = self._blend(patch.pixels, piece, (float(cx), float(cy)), rng, reach)
        if raw:
            pixels = self._real_transform(patch.slide, pixels)
        half = self.config.pasted_box_um / self.config.mpp / 2
        box = np.array([[cx - half, cy - half, cx + half, cy + half]], np.float32).clip(0, self.config.tile_size)
        labels = np.array([MITOSIS], np.int64)
        return dataclasses.replace(patch, pixels=pixels, boxes=box, labels=labels, origin="real-figure")

    def _real_disc_patch(self, rng: np.random.Generator) -> Patch:
        """A real patch with a disc of (another) real image's tissue blended in as a figure's would be: no box."""
        assert self.real is not None and self.figures is not None, "a real-disc patch without real images: a bug"
        raw = self.config.real_figure_raw
        patch, (cx, cy) = self._real_patch(rng, transform=not raw)
        size = self._figure_square(0)[1]
        piece, _ = self._real_patch(rng, size=size, transform=not raw)  # a figure's size of other real tissue
        pixels = self._blend(patch.pixels, piece.pixels, (float(cx), float(cy)), rng)
        if raw:
            pixels = self._real_transform(patch.slide, pixels)
        return dataclasses.replace(patch, pixels=pixels, origin="real-disc")

    def _real_transform(self, j: int, pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        assert self.real is not None, "a real patch without real images: a bug"
        return self.real.transform(j, pixels)

    def _figure_square(self, j: int) -> tuple[int, int]:
        """Real figure ``j``'s central square: its side in the crop's pixels and in patch pixels."""
        assert self.figures is not None, "a real figure without real figures: a bug"
        reader = self.figures.reader(j)
        side = min(reader.dimensions)
        return side, max(1, int(round(side / reader.downsample_for(self.config.mpp))))

    def _blend(
        self,
        pixels: NDArray[np.uint8],
        piece: NDArray[np.uint8],
        centre: tuple[float, float],
        rng: np.random.Generator,
        reach: float = 1.0,
    ) -> NDArray[np.uint8]:
        """``piece``'s disc blended into ``pixels`` at ``centre``, its radius drawn, within ``reach`` of the
        piece's half side (the disc holds none of a shrunk piece's mirrored edge)."""
        radius, feather = float(rng.uniform(*DISC_RADIUS_UM)) / self.config.mpp, FEATHER_UM / self.config.mpp
        return blend_disc(pixels, piece, centre, min(radius, reach * piece.shape[0] / 2 - feather), feather)

    def close(self) -> None:
        """Close every slide and real image opened so far."""
        super().close()
        if self.real is not None:
            self.real.close()
        if self.figures is not None:
            self.figures.close()

    def _hard_negative(self, i: int, rng: np.random.Generator) -> tuple[int, NDArray[np.float64]] | None:
        """A pool entry: of slide ``i`` if it has some, else of a slide of its domain, else of any; None while
        the pool is empty."""
        if self.pool is None or not len(self.pool):
            return None
        with_entries = self.pool.slides()
        if i not in with_entries:
            mates = [j for j in with_entries if self.slides[j].domain == self.slides[i].domain]
            choices = mates or with_entries
            i = choices[int(rng.integers(len(choices)))]
        return i, self.pool.draw(i, rng)

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
    return dataclasses.replace(patch, pixels=np.ascontiguousarray(pixels), boxes=boxes, focus=None)  # focus not moved


GLASS = WHITE  # an island's surroundings: what the engine reads past a slide's edge


def island(patch: Patch, side: float, rng: np.random.Generator) -> Patch:
    """``patch`` cut to a square island of tissue ``side`` patch pixels wide, glass around it; the island
    holds the patch's focus (its centred cell) in its middle half and stays inside the patch. Boxes whose
    centre falls outside the island are dropped, the others clipped to it."""
    height, width = patch.pixels.shape[:2]
    side = int(np.clip(round(side), 8, min(height, width)))
    fx, fy = patch.focus if patch.focus is not None else (width / 2, height / 2)
    shift = rng.uniform(-side / 4, side / 4, 2)
    x0 = int(np.clip(round(fx - side / 2 + shift[0]), 0, width - side))
    y0 = int(np.clip(round(fy - side / 2 + shift[1]), 0, height - side))
    x1, y1 = x0 + side, y0 + side
    pixels = np.full_like(patch.pixels, GLASS)
    pixels[y0:y1, x0:x1] = patch.pixels[y0:y1, x0:x1]
    centres = (patch.boxes[:, :2] + patch.boxes[:, 2:]) / 2
    inside = (centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1)
    boxes = patch.boxes[inside].copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(x0, x1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(y0, y1)
    return dataclasses.replace(patch, pixels=pixels, boxes=boxes, labels=patch.labels[inside], island=True)
