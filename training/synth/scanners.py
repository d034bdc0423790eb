"""Named virtual scanners: stain colours, illumination and optics (the domain shift).

A scanner only changes how the same stained tissue *looks*: the stain optical
density vectors (rows of ``M`` in ``I = I0 * exp(-C @ M)``), the stain uptake of
the lab that prepared it (``stain_gain``, multiplies the concentrations), the
background illumination ``I0`` and the optical blur. The tissue itself (the
concentration maps) never depends on the scanner.

A-D echo MIDOG 2021's four scanners (Hamamatsu XR, Hamamatsu S360, Aperio CS2,
Leica GT450); A and C also stand in for HeLP's two hospitals.
"""

from __future__ import annotations

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


def get_scanner(name: str) -> Scanner:
    """The scanner named ``name``; a ConfigError listing the known ones otherwise."""
    try:
        return SCANNERS[name]
    except KeyError:
        raise ConfigError(f"unknown scanner {name!r}; choose one of {', '.join(SCANNERS)}") from None
