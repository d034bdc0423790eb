"""Stain normalisation: Macenko, Vahadane, Reinhard; fitted once per slide, batched, GPU-ready.

Typical per-slide use::

    norm = get_normaliser("vahadane").fit(target_rgb)       # once, the reference
    fit_to_slide(norm, slide, tissue_mask)                  # once per slide
    tiles_out = norm.transform(tiles)                       # (N, H, W, 3) uint8, numpy or torch

Images are uint8 RGB with channels last (``(H, W, 3)``, ``(N, H, W, 3)`` or
``(P, 3)``), numpy or torch on any device; results come back in the same form
and inputs are never modified. Maths follow StainTools 2.1.2 (see the modules).

Misuse raises :class:`~algorithm.errors.ConfigError` s (see
:mod:`algorithm.stain.errors`): :class:`InputTypeError` and
:class:`InputShapeError` for images that are not uint8 RGB, channels last,
:class:`NotFittedError` for a normaliser used before ``fit``; a fit that the
pixels do not allow raises :class:`StainFitError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from algorithm.errors import ConfigError
from algorithm.stain.augment import StainAugmentor
from algorithm.stain.base import Normaliser
from algorithm.stain.concentrations import ConcentrationSolver, get_concentrations
from algorithm.stain.errors import InputShapeError, InputTypeError, NotFittedError, StainFitError
from algorithm.stain.extractor import StainExtractor
from algorithm.stain.luminosity import LuminosityStandardiser, standardise_luminosity
from algorithm.stain.macenko import MacenkoExtractor
from algorithm.stain.optical_density import luminosity_tissue_mask, od_to_rgb, rgb_to_od
from algorithm.stain.reinhard import ReinhardNormaliser
from algorithm.stain.sampling import fit_normaliser_to_slide_pixels, sample_tissue_pixels
from algorithm.stain.slide_fit import fit_to_slide, sample_slide_pixels
from algorithm.stain.stain_normaliser import StainNormaliser
from algorithm.stain.vahadane import VahadaneExtractor

METHODS = ("macenko", "vahadane", "reinhard")
_EXTRACTORS: dict[str, type[StainExtractor]] = {"macenko": MacenkoExtractor, "vahadane": VahadaneExtractor}
_NORMALISER_KEYS = ("solver", "lam", "percentile", "statistics", "use_lut")

__all__ = [
    "METHODS",
    "ConcentrationSolver",
    "InputShapeError",
    "InputTypeError",
    "LuminosityStandardiser",
    "MacenkoExtractor",
    "Normaliser",
    "NotFittedError",
    "ReinhardNormaliser",
    "StainAugmentor",
    "StainExtractor",
    "StainFitError",
    "StainNormaliser",
    "VahadaneExtractor",
    "fit_normaliser_to_slide_pixels",
    "fit_to_slide",
    "get_concentrations",
    "get_extractor",
    "get_normaliser",
    "luminosity_tissue_mask",
    "od_to_rgb",
    "rgb_to_od",
    "sample_slide_pixels",
    "sample_tissue_pixels",
    "standardise_luminosity",
]


def _method_name(method: str) -> str:
    name = str(method).strip().lower()
    if name not in METHODS:
        raise ConfigError(f"unknown stain normalisation method {method!r}; choose one of {', '.join(METHODS)}")
    return name


T = TypeVar("T")


def _build(cls: Callable[..., T], what: str, kw: dict[str, Any]) -> T:
    try:
        return cls(**kw)
    except TypeError as e:  # unknown keyword: a configuration mistake
        raise ConfigError(f"invalid options for {what}: {e}") from e


def get_extractor(method: str, **kw: Any) -> StainExtractor:
    """A stain-matrix extractor: "macenko" or "vahadane" (keyword options go to its constructor)."""
    name = _method_name(method)
    if name not in _EXTRACTORS:
        raise ConfigError(f"{method!r} has no stain matrix; choose one of {', '.join(_EXTRACTORS)}")
    return _build(_EXTRACTORS[name], f"the {name} extractor", kw)


def get_normaliser(method: str, **kw: Any) -> Normaliser:
    """A normaliser by name: "macenko" | "vahadane" | "reinhard" (case-insensitive).

    Keyword options: for Macenko/Vahadane, ``solver``, ``lam``, ``percentile``,
    ``statistics``, ``use_lut`` go to :class:`StainNormaliser` and the
    rest to the extractor (``luminosity_threshold``, ``min_tissue_pixels``,
    ``angular_percentile``, ``regularizer``, ``seed``, ...); for Reinhard,
    :class:`ReinhardNormaliser`'s. Unknown names or options raise ConfigError.
    """
    name = _method_name(method)
    if name == "reinhard":
        return _build(ReinhardNormaliser, "the reinhard normaliser", kw)
    norm_kw = {k: kw.pop(k) for k in _NORMALISER_KEYS if k in kw}
    extractor = get_extractor(name, **kw)
    return _build(lambda **k: StainNormaliser(extractor, **k), f"the {name} normaliser", norm_kw)
