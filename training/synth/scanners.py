"""Named virtual scanners: stain colours, illumination and optics (the domain shift).

A scanner only changes how the same stained tissue *looks*: the stain optical
density vectors (rows of ``M`` in ``I = I0 * exp(-C @ M)``), the stain uptake of
the lab that prepared it (``stain_gain``, multiplies the concentrations), the
background illumination ``I0`` and the optical blur. The tissue itself (the
concentration maps) never depends on the scanner.

A-D echo MIDOG 2021's four scanners (Hamamatsu XR, Hamamatsu S360, Aperio CS2,
Leica GT450); A and C also stand in for HeLP's two hospitals.

``S<n>`` (``S0``, ``S1``, ...) names a *sampled* scanner: every parameter drawn
from the broad ranges of :data:`SAMPLED_RANGES` by the number ``n`` alone (the
same name, the same scanner). Training on many of them is domain randomisation:
a model that has seen dozens of scanners is less surprised by a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from algorithm.errors import ConfigError


def _unit(v: tuple[float, float, float]) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    a = a / np.linalg.norm(a)
    return (float(a[0]), float(a[1]), float(a[2]))


@dataclass(frozen=True)
class Scanner:
    """A simulated scanner: its stain vectors, glass colour and optics (it never changes the tissue)."""

    name: str
    description: str
    haematoxylin: tuple[float, float, float]  # unit OD vector (R, G, B)
    eosin: tuple[float, float, float]  # unit OD vector (R, G, B)
    i0: tuple[float, float, float]  # background (glass) intensity, 0-255
    stain_gain: tuple[float, float] = (1.0, 1.0)  # (H, E) uptake multipliers
    blur_um: float = 0.0  # optical blur, Gaussian sigma in micrometres
    jpeg_quality: int = 90  # default tile JPEG quality for this scanner

    @property
    def matrix(self) -> np.ndarray:
        """The 2 x 3 stain matrix, rows H and E (unit optical-density vectors)."""
        return np.array([self.haematoxylin, self.eosin], dtype=np.float64)

    def to_dict(self) -> dict:
        """The scanner as plain JSON types (recorded in each slide's truth file)."""
        return {
            "name": self.name,
            "description": self.description,
            "stain_matrix": {"haematoxylin": list(self.haematoxylin), "eosin": list(self.eosin)},
            "i0": list(self.i0),
            "stain_gain": list(self.stain_gain),
            "blur_um": self.blur_um,
            "jpeg_quality": self.jpeg_quality,
        }


SCANNERS: dict[str, Scanner] = {
    s.name: s
    for s in (
        Scanner(
            "A",
            "Hamamatsu XR-like: classic purple-pink, neutral glass",
            _unit((0.5626, 0.7201, 0.4062)),
            _unit((0.2159, 0.8012, 0.5581)),
            (242.0, 240.0, 244.0),
            (1.0, 1.0),
            0.15,
            90,
        ),
        Scanner(
            "B",
            "Hamamatsu S360-like: bluer haematoxylin, pale eosin, cool glass",
            _unit((0.55, 0.72, 0.42)),
            _unit((0.18, 0.85, 0.50)),
            (236.0, 238.0, 246.0),
            (1.1, 0.8),
            0.25,
            85,
        ),
        Scanner(
            "C",
            "Aperio CS2-like: magenta eosin, warm glass, softer optics",
            _unit((0.60, 0.75, 0.30)),
            _unit((0.10, 0.88, 0.46)),
            (246.0, 241.0, 236.0),
            (0.9, 1.2),
            0.35,
            80,
        ),
        Scanner(
            "D",
            "Leica GT450-like: dark violet nuclei, saturated pink, bright glass",
            _unit((0.70, 0.66, 0.27)),
            _unit((0.04, 0.93, 0.36)),
            (250.0, 249.0, 251.0),
            (1.25, 1.05),
            0.1,
            92,
        ),
    )
}


# The sampled scanners' ranges, drawn uniformly. Stain vectors are a reference plus up to +-0.12 on
# each component, then made unit length: Macenko's reference vectors lie inside that box, and so do
# A-D's (Ruifrok's haematoxylin too, not its far greener eosin); glass from warm to cool, uptake from
# pale to heavy (A-D's too), optics from sharp to soft, JPEG from 75 to 95. A-D are all inside: sampled
# scanners are new draws from the same family, never A-D themselves.
SAMPLED_RANGES: dict[str, tuple[float, float]] = {
    "stain_jitter": (-0.12, 0.12),
    "i0": (232.0, 252.0),
    "gain_h": (0.8, 1.3),
    "gain_e": (0.75, 1.3),
    "blur_um": (0.05, 0.45),
    "jpeg_quality": (75, 95),
}
_H_REFERENCE = (0.60, 0.72, 0.35)
_E_REFERENCE = (0.13, 0.86, 0.48)
_SAMPLED = re.compile(r"S(0|[1-9][0-9]{0,8})")


def sampled_scanner(index: int) -> Scanner:
    """The sampled scanner ``S<index>``: parameters drawn from :data:`SAMPLED_RANGES` by ``index`` alone."""
    rng = np.random.default_rng([0x5CA2, index])
    r = SAMPLED_RANGES

    def vector(reference: tuple[float, float, float]) -> tuple[float, float, float]:
        v = np.asarray(reference) + rng.uniform(*r["stain_jitter"], size=3)
        return _unit((max(float(v[0]), 0.01), max(float(v[1]), 0.01), max(float(v[2]), 0.01)))

    h, e = vector(_H_REFERENCE), vector(_E_REFERENCE)
    while not (h[0] > e[0] and h[1] < e[1]):  # drawn again until haematoxylin stays bluer than eosin
        h, e = vector(_H_REFERENCE), vector(_E_REFERENCE)
    i0 = rng.uniform(*r["i0"], size=3).round(1)
    gain = (round(float(rng.uniform(*r["gain_h"])), 3), round(float(rng.uniform(*r["gain_e"])), 3))
    blur = round(float(rng.uniform(*r["blur_um"])), 3)
    quality = int(rng.integers(int(r["jpeg_quality"][0]), int(r["jpeg_quality"][1]) + 1))
    return Scanner(
        f"S{index}",
        "sampled scanner (domain randomisation)",
        h,
        e,
        (float(i0[0]), float(i0[1]), float(i0[2])),
        gain,
        blur,
        quality,
    )


def is_scanner(name: str) -> bool:
    """Whether ``name`` is a named scanner (A-D) or a sampled one (``S<n>``)."""
    return name in SCANNERS or _SAMPLED.fullmatch(name) is not None


def get_scanner(name: str) -> Scanner:
    """The scanner named ``name`` (A-D, or sampled ``S<n>``); a ConfigError listing the known ones otherwise."""
    if name in SCANNERS:
        return SCANNERS[name]
    if _SAMPLED.fullmatch(name):
        return sampled_scanner(int(name[1:]))
    raise ConfigError(f"unknown scanner {name!r}; choose one of {', '.join(SCANNERS)}, or S<n> (sampled)")
