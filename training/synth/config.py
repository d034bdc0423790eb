"""The description of one synthetic slide: everything its pixels depend on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from algorithm.errors import ConfigError
from training.synth.noise import derive_seed
from training.synth.scanners import SCANNERS, is_scanner

LABELS = ("tumour", "normal")
MAX_SIDE = 200_000
MAX_DENSITY = 1000.0  # mitoses per mm^2
MAX_CONFOUNDERS = 20.0  # confounder density multiplier
MAX_HAEMOGLOBIN = 2.0  # haemoglobin multiplier of the red cells (1: realistic)


@dataclass(frozen=True)
class SynthConfig:
    """A synthetic slide is a pure function of this (and of the region asked for).

    Sizes are level-0 pixels; biology is specified in micrometres and converted
    with ``mpp``, so the same seed at another ``mpp`` is the same tissue scanned
    at another resolution. ``scanner`` changes colours only (see scanners.py).
    ``blur`` is an extra Gaussian blur sigma in level-0 pixels, on top of the
    scanner's own optics.

    ``mitoses_per_mm2``: when set, the number of mitotic figures is this density times
    the slide's tissue area (``round``; :func:`training.synth.layout.tissue_area_mm2`),
    so density is realistic on any slide size, and ``mitoses`` is ignored; None (the
    default) keeps the fixed ``mitoses`` count. ``confounders`` multiplies the density
    of the look-alikes of real tissue (pyknotic and apoptotic cells, plasma cells,
    lymphocyte clusters, tangential cuts, debris; see :mod:`training.synth.confounders`);
    0 draws none and gives exactly the slides of the kit before they existed.

    ``positive``: a slide-level label for weakly supervised slide classification. On a
    positive slide every tumour nucleus is a little larger, more often hyperchromatic,
    with coarser chromatin and more nucleoli (drawn from the same random numbers: the same
    tissue, other tumour nuclei; see :mod:`training.synth.cells`). The change is within
    the nuclei's own spread, so no single region shows it plainly; it needs tumour
    (``label="tumour"``): a normal slide is the same with either value. False (the default)
    gives the slides of the kit before it existed, byte for byte, and :meth:`to_dict`
    records it only when true.

    ``haemoglobin``: how much of its own colour the haemoglobin of the red cells (vessel
    lumens, bleeds) adds to their eosin, in [0, 2]. 1 gives the cherry red of real H&E blood
    (what blood filters such as :func:`algorithm.tissue.blood_mask` look for); 0 (the default)
    gives eosin-only, magenta red cells: the slides of the kit before it existed, byte for
    byte, and :meth:`to_dict` records it only when above 0. It is a third stain (its own
    optical-density vector, see :mod:`training.synth.render`): the haematoxylin and eosin of
    every pixel, and every pixel without red cells, are the same with any value.
    """

    seed: int = 0
    width: int = 4096
    height: int = 4096
    mpp: float = 0.25
    scanner: str = "A"
    label: str = "tumour"
    mitoses: int = 20
    imposters: int = 30
    mitosis_tumour_fraction: float = 0.85
    imposter_tumour_fraction: float = 0.6
    blur: float = 0.0
    mitoses_per_mm2: float | None = None
    confounders: float = 1.0
    positive: bool = False
    haemoglobin: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 256 <= v <= MAX_SIDE:
                problems.append(f"{name} must be an integer in [256, {MAX_SIDE}], got {v!r}")
        if not 0.05 <= float(self.mpp) <= 4.0:
            problems.append(f"mpp must be in [0.05, 4] micrometres per pixel, got {self.mpp!r}")
        if not isinstance(self.scanner, str) or not is_scanner(self.scanner):
            problems.append(f"unknown scanner {self.scanner!r}; choose one of {', '.join(SCANNERS)}, or S<n> (sampled)")
        if self.label not in LABELS:
            problems.append(f"label must be one of {', '.join(LABELS)}, got {self.label!r}")
        for name in ("mitoses", "imposters"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                problems.append(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("mitosis_tumour_fraction", "imposter_tumour_fraction"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {v!r}")
        if self.mitoses_per_mm2 is not None and not (
            isinstance(self.mitoses_per_mm2, int | float) and 0.0 <= float(self.mitoses_per_mm2) <= MAX_DENSITY
        ):
            problems.append(f"mitoses_per_mm2 must be None or in [0, {MAX_DENSITY}], got {self.mitoses_per_mm2!r}")
        if not (isinstance(self.confounders, int | float) and 0.0 <= float(self.confounders) <= MAX_CONFOUNDERS):
            problems.append(f"confounders must be in [0, {MAX_CONFOUNDERS}], got {self.confounders!r}")
        if not isinstance(self.positive, bool):
            problems.append(f"positive must be true or false, got {self.positive!r}")
        if isinstance(self.haemoglobin, bool) or not (
            isinstance(self.haemoglobin, int | float) and 0.0 <= float(self.haemoglobin) <= MAX_HAEMOGLOBIN
        ):
            problems.append(f"haemoglobin must be a number in [0, {MAX_HAEMOGLOBIN:g}], got {self.haemoglobin!r}")
        if not 0.0 <= float(self.blur) <= 20.0:
            problems.append(f"blur must be in [0, 20] pixels, got {self.blur!r}")
        if problems:
            raise ConfigError("invalid synthetic slide configuration: " + "; ".join(problems))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in level-0 pixels."""
        return (self.width, self.height)

    def content_key(self) -> tuple:
        """Every field the concentrations depend on (not the scanner, not the blur)."""
        d = dataclasses.asdict(self)
        d.pop("scanner")
        d.pop("blur")
        return tuple(sorted(d.items()))

    def replace(self, **changes: Any) -> SynthConfig:
        """A copy with ``changes``, checked again (``__post_init__``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The config as plain JSON types (recorded in each slide's truth file).

        ``positive`` only when true and ``haemoglobin`` only when above 0: the truth file of
        a slide without either is the one written before the field existed (a missing
        ``positive`` reads back as false, a missing ``haemoglobin`` as 0).
        """
        d = dataclasses.asdict(self)
        if not self.positive:
            d.pop("positive")
        if not self.haemoglobin:
            d.pop("haemoglobin")
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "synthetic slide configuration") -> SynthConfig:
        """Rebuild from :meth:`to_dict`; unknown keys are errors (the kit's one message), ``source`` names the file."""
        names = sorted(f.name for f in dataclasses.fields(cls))
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {names}")
        return cls(**data)


def pick(seed: int, what: str, choices: tuple[str, ...]) -> str:
    """Deterministic choice for ``--scanner random`` / ``--label random`` (from the seed only)."""
    return choices[derive_seed(seed, "pick", what) % len(choices)]
