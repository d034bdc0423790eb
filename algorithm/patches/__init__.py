"""Patch selection as the HER2 study did it: patches at 1 um/px, glass, blood and nuclei-poor ones dropped.

``select_patches(slide, mask, PatchOptions())`` gives a :class:`PatchSelection` whose ``grid`` the
tile engine (:class:`~algorithm.engine.TileRun`) runs a model over. Modules: options (the filters'
thresholds, checked), fractions (shares of area per box from summed-area tables), haematoxylin
(the slide's stain matrix, per-pixel haematoxylin), selection (one low-resolution read, the filters,
the kept grid).
"""

from algorithm.patches.haematoxylin import (
    REFERENCE_STAIN_MATRIX,
    fit_stain_matrix,
    haematoxylin_concentration,
    haematoxylin_positive,
)
from algorithm.patches.options import MAX_FILTER_SIDE, PatchOptions
from algorithm.patches.selection import DEFAULT_PATCH_OPTIONS, REASONS, PatchSelection, filter_view, select_patches

__all__ = [
    "DEFAULT_PATCH_OPTIONS",
    "MAX_FILTER_SIDE",
    "REASONS",
    "REFERENCE_STAIN_MATRIX",
    "PatchOptions",
    "PatchSelection",
    "filter_view",
    "fit_stain_matrix",
    "haematoxylin_concentration",
    "haematoxylin_positive",
    "select_patches",
]
