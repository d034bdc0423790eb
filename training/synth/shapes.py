"""Blobs: ellipses with a smoothly perturbed boundary (tumour, vessels, glands, bleeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Blob:
    """Ellipse centred at (cx, cy) with semi-axes a >= b (level-0 px), rotated by
    ``angle`` (radians, x towards y), whose radius is scaled by
    ``1 + sum(amp * cos(k * theta + phase))`` over ``harmonics``."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float
    harmonics: tuple[tuple[int, float, float], ...] = ()

    @property
    def max_scale(self) -> float:
        """The largest factor the harmonics can stretch the radius by: what bounding boxes must allow for."""
        return 1.0 + sum(abs(amp) for _, amp, _ in self.harmonics)

    @property
    def mean_radius(self) -> float:
        """The radius of the circle with the ellipse's area (sets the anti-aliased edge's width)."""
        return math.sqrt(self.a * self.b)

    def bbox(self, outer: float = 1.0) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) containing the normalised radius <= ``outer``."""
        r = self.a * self.max_scale * outer
        return (self.cx - r, self.cy - r, self.cx + r, self.cy + r)

    def intersects(self, x0: float, y0: float, x1: float, y1: float, outer: float = 1.0) -> bool:
        """Whether the shape's box at ``outer`` overlaps [x0, x1) x [y0, y1): a cheap test before evaluating it."""
        bx0, by0, bx1, by1 = self.bbox(outer)
        return bx0 < x1 and bx1 > x0 and by0 < y1 and by1 > y0

    def radius(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Normalised radius (< 1 inside), broadcast over ``x`` and ``y``; float32."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx = np.asarray(x, dtype=np.float64) - self.cx
        dy = np.asarray(y, dtype=np.float64) - self.cy
        u = ((dx * c + dy * s) / self.a).astype(np.float32)
        v = ((-dx * s + dy * c) / self.b).astype(np.float32)
        rr = np.sqrt(u * u + v * v)
        if not self.harmonics:
            return rr
        inv = 1.0 / np.maximum(rr, 1e-6)
        c1, s1 = u * inv, v * inv
        scale = np.ones_like(rr)
        ck, sk = c1, s1
        kmax = max(k for k, _, _ in self.harmonics)
        powers = {1: (c1, s1)}
        for k in range(2, kmax + 1):
            ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
            powers[k] = (ck, sk)
        for k, amp, phase in self.harmonics:
            ck, sk = powers[k]
            scale += np.float32(amp * math.cos(phase)) * ck - np.float32(amp * math.sin(phase)) * sk
        return rr / scale

    def to_dict(self) -> dict:
        """The shape as plain JSON types (the tumour's outline in the truth file)."""
        return {
            "cx": self.cx,
            "cy": self.cy,
            "a": self.a,
            "b": self.b,
            "angle": self.angle,
            "harmonics": [list(h) for h in self.harmonics],
        }


def random_harmonics(rng: np.random.Generator, kmax: int, strength: float) -> tuple[tuple[int, float, float], ...]:
    """Low-order boundary wobble: amplitude ~ strength / k."""
    return tuple(
        (k, float(rng.uniform(0.3, 1.0) * strength / k), float(rng.uniform(0, 2 * math.pi))) for k in range(2, kmax + 1)
    )
