"""The training patches: each labelled slide's selected patches, read once and kept in memory.

A slide gives a few dozen patches at the study's 1 um/px (tissue, not blood, enough
nuclei: :func:`algorithm.patches.select_patches`, the filters the container uses),
stain-normalised to the run's target as the container normalises them. Every patch
carries its slide's label: the study's weak supervision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from algorithm.console import progress
from algorithm.patches import PatchOptions, PatchSelection, select_patches
from algorithm.slide import open_slide
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from training.datasets.labelled import LabelledSlide


@dataclass
class SlidePatches:
    """One slide's selected patches, ``(n, size, size, 3)`` uint8, normalised."""

    slide: LabelledSlide
    pixels: NDArray[np.uint8]
    selection: PatchSelection


def read_slide_patches(slide: LabelledSlide, options: PatchOptions, stain: StainSpec | None) -> SlidePatches:
    """The slide's selected patches as the container reads them (same selection, same normalisation)."""
    with open_slide(slide.path) as reader:
        mask = tissue_mask(reader)
        selection = select_patches(reader, mask, options)
        grid = selection.grid
        size = options.size
        pixels = np.zeros((len(grid), size, size, 3), np.uint8)
        if len(grid):
            normalise = slide_normaliser(stain, reader, mask, grid.level, pixels=grid.pixels)
            for i, tile in enumerate(grid):
                pixels[i] = reader.read_extent((tile.x, tile.y), tile.extent, tile.size)
            if normalise is not None:
                pixels = normalise(pixels)
    return SlidePatches(slide, pixels, selection)


class PatchBank:
    """All slides' patches; sampling is domain-balanced, then class-balanced, then uniform over patches."""

    def __init__(self, slides: Sequence[LabelledSlide], options: PatchOptions, stain: StainSpec | None) -> None:
        self.options = options
        self.slides = [
            read_slide_patches(s, options, stain) for s in progress(slides, total=len(slides), desc="patches")
        ]

    def __len__(self) -> int:
        return len(self.slides)

    def counts(self) -> NDArray[np.int64]:
        """Patches per slide."""
        return np.array([len(s.pixels) for s in self.slides], dtype=np.int64)

    def sample(self, members: Sequence[int], n: int, rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray]:
        """``n`` patches and their slide labels from the slides ``members`` (indices with patches)."""
        usable = [i for i in members if len(self.slides[i].pixels)]
        groups: dict[tuple[str, int], list[int]] = {}
        for i in usable:
            slide = self.slides[i].slide
            groups.setdefault((str(slide.domain), slide.label), []).append(i)
        domains = sorted({d for d, _ in groups})
        images, labels = [], []
        for _ in range(n):
            domain = domains[rng.integers(len(domains))]
            classes = sorted(c for d, c in groups if d == domain)
            label = classes[rng.integers(len(classes))]
            members_of = groups[(domain, label)]
            patches = self.slides[members_of[rng.integers(len(members_of))]].pixels
            images.append(patches[rng.integers(len(patches))])
            labels.append(label)
        return np.stack(images), np.array(labels, dtype=np.float32)
