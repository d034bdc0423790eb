"""Mitotic figures and imposters ("specials"): few, counted exactly, placed once per slide.

Where the layout allows (mitoses and imposters in tumour nests or in normal tissue, by the
configured fractions; never on lumens or bleeds; 22 um apart) by rejection sampling, each with
its shape drawn from the slide's own random numbers: a mitosis's condensed chromatin as
Gaussian clumps by phase (a prophase ball, a metaphase plate, anaphase bars, telophase
clumps), an imposter (a pyknotic nucleus or an apoptotic body) as one to three smooth discs.
Regular nuclei too close to one are left out (:func:`training.synth.cells.regular_cells`);
:mod:`training.synth.drawing` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from algorithm.errors import ConfigError
from training.synth.config import SynthConfig
from training.synth.layout import PointSampler, build_layout, fields, tissue_area_mm2
from training.synth.noise import derive_seed

# MIDOG boxes: 50 px at 0.25 um/px, i.e. 12.5 um, centred on the cell.
BOX_UM = 12.5
MITOSIS = 1
IMPOSTER = 2
PHASES = ("prophase", "metaphase", "anaphase", "telophase")
_PHASE_P = (0.3, 0.4, 0.2, 0.1)
N_BLOBS = 18


@dataclass(frozen=True)
class Specials:
    """Mitotic figures (category 1) and imposters (category 2) of a slide, level-0 px."""

    x: np.ndarray
    y: np.ndarray
    category: np.ndarray  # 1 mitosis, 2 imposter
    phase: np.ndarray  # index into PHASES for mitoses, -1 for imposters
    in_tumour: np.ndarray  # bool
    dark: np.ndarray
    blobs: np.ndarray  # (N, N_BLOBS, 4): offset x, offset y, sigma, weight (px; weight 0 = unused)
    halo: np.ndarray  # clear-halo radius (px), 0 = none
    eosin_rim: np.ndarray  # imposters: eosinophilic cytoplasm strength
    extent: np.ndarray  # radius (px) containing the drawing incl. halo

    def __len__(self) -> int:
        return len(self.x)

    def select(self, keep: np.ndarray) -> Specials:
        """The specials where ``keep`` is true (a boolean mask or indices)."""
        return Specials(**{k: v[keep] for k, v in vars(self).items()})

    def near(self, x0: float, y0: float, x1: float, y1: float) -> Specials:
        """The specials whose drawing can reach into [x0, x1) x [y0, y1): the ones a tile must draw."""
        e = self.extent
        return self.select((self.x + e > x0) & (self.x - e < x1) & (self.y + e > y0) & (self.y - e < y1))

    def too_close(self, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
        """Whether each (x, y) lies within ``radius`` plus half a special's extent: cells keep clear of specials."""
        if len(self) == 0 or len(x) == 0:
            return np.zeros(len(x), dtype=bool)
        d2 = (x[:, None] - self.x[None, :]) ** 2 + (y[:, None] - self.y[None, :]) ** 2
        return np.any(d2 < (radius + 0.5 * self.extent[None, :]) ** 2, axis=1)


def _mitosis_shape(rng: np.random.Generator, px: Callable[[float], float]) -> tuple[int, np.ndarray]:
    """Chromatin of one mitotic figure as Gaussian blobs (um -> px): clumps, plates, pairs."""
    phase = int(rng.choice(len(PHASES), p=_PHASE_P))
    k = N_BLOBS
    blobs = np.zeros((k, 4))
    if phase == 0:  # prophase / prometaphase: a clumped, knobbly ball of condensed chromosomes
        r = rng.uniform(2.8, 4.5)
        rad = r * np.sqrt(rng.uniform(0.0, 1.0, k))
        th = rng.uniform(0, 2 * math.pi, k)
        blobs[:, 0], blobs[:, 1] = rad * np.cos(th), rad * np.sin(th)
        blobs[:, 2] = rng.uniform(0.45, 0.95, k)
    else:
        length = rng.uniform(6.5, 10.5) if phase == 1 else rng.uniform(5.5, 9.0)
        t = rng.uniform(-0.5, 0.5, k) * length
        perp = rng.normal(0.0, 0.55, k)
        if phase == 1:  # metaphase plate, seen edge-on: a fuzzy bar with projections
            off = np.zeros(k)
        else:  # anaphase (two parallel bars) / telophase (two clumps further apart)
            sep = rng.uniform(3.5, 5.5) if phase == 2 else rng.uniform(7.0, 9.0)
            off = np.where(np.arange(k) % 2 == 0, -sep / 2, sep / 2)
            if phase == 3:
                t = t * 0.45
                perp = perp * 1.6
        blobs[:, 0], blobs[:, 1] = t, perp + off
        blobs[:, 2] = rng.uniform(0.45, 0.85, k)
        # Thin projections ("hairy" outline) sticking out of the plate.
        spikes = rng.choice(k, size=6, replace=False)
        blobs[spikes, 1] += rng.choice([-1.0, 1.0], 6) * rng.uniform(1.0, 2.2, 6)
        blobs[spikes, 2] = rng.uniform(0.3, 0.45, 6)
    blobs[:, 3] = rng.uniform(0.6, 1.2, k)
    angle = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(angle), math.sin(angle)
    x, y = blobs[:, 0].copy(), blobs[:, 1].copy()
    blobs[:, 0], blobs[:, 1] = x * c - y * s, x * s + y * c
    blobs[:, :3] = [[px(v) for v in row] for row in blobs[:, :3]]
    return phase, blobs


def _imposter_shape(rng: np.random.Generator, px: Callable[[float], float]) -> np.ndarray:
    """Round, smooth, dark bodies (pyknotic nuclei, apoptotic bodies): 1 disc, sometimes 2-3."""
    blobs = np.zeros((N_BLOBS, 4))
    n = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
    r_main = rng.uniform(2.6, 4.6)
    if n == 1:
        blobs[0] = (0.0, 0.0, r_main, 1.0)
    else:
        for i in range(n):
            r = rng.uniform(1.3, 2.3)
            th = rng.uniform(0, 2 * math.pi)
            dist = rng.uniform(0.8, 2.5)
            blobs[i] = (dist * math.cos(th), dist * math.sin(th), r, 1.0)
    blobs[:, :3] = [[px(v) for v in row] for row in blobs[:, :3]]
    return blobs


@lru_cache(maxsize=16)
def _specials(content_key: tuple) -> Specials:
    cfg = SynthConfig(**dict(content_key))
    layout = build_layout(cfg)
    rng = np.random.default_rng(derive_seed(cfg.seed, "specials"))
    px = layout.px
    box = px(BOX_UM)
    min_dist = px(22.0)
    placed_x: list[float] = []
    placed_y: list[float] = []
    rows = []

    def place(n: int, where: str) -> int:
        done = 0
        barren = 0
        for _ in range(200):
            if done >= n or barren >= 8:
                break
            before = done
            m = min(max(256, 16 * (n - done)), 8192)
            margin = box
            x = rng.uniform(margin, cfg.width - margin, m)
            y = rng.uniform(margin, cfg.height - margin, m)
            ring = np.linspace(0, 2 * math.pi, 8, endpoint=False)
            rx = np.concatenate([x[:, None], x[:, None] + px(6.0) * np.cos(ring)], axis=1)
            ry = np.concatenate([y[:, None], y[:, None] + px(6.0) * np.sin(ring)], axis=1)
            f = fields(layout, PointSampler(rx, ry))
            if where == "tumour":
                ok = f.nest.min(axis=1) > 0.8
            else:
                ok = (f.tissue.min(axis=1) > 0.9) & (f.tumour.max(axis=1) < 0.05)
            ok &= (f.lumen.max(axis=1) < 0.05) & (f.bleed.max(axis=1) < 0.05)
            for i in np.flatnonzero(ok):
                if done >= n:
                    break
                if (
                    placed_x
                    and np.min((np.array(placed_x) - x[i]) ** 2 + (np.array(placed_y) - y[i]) ** 2) < min_dist**2
                ):
                    continue
                placed_x.append(float(x[i]))
                placed_y.append(float(y[i]))
                done += 1
            barren = barren + 1 if done == before else 0
        return done

    n_mitoses = cfg.mitoses
    if cfg.mitoses_per_mm2 is not None:
        n_mitoses = int(round(cfg.mitoses_per_mm2 * tissue_area_mm2(layout)))
    for category, count, fraction in (
        (MITOSIS, n_mitoses, cfg.mitosis_tumour_fraction),
        (IMPOSTER, cfg.imposters, cfg.imposter_tumour_fraction),
    ):
        n_tumour = int(round(count * fraction)) if layout.tumour is not None else 0
        start = len(placed_x)
        got_t = place(n_tumour, "tumour")
        got_n = place(count - got_t, "normal")
        if got_t + got_n < count:
            got_n += place(count - got_t - got_n, "tumour") if layout.tumour is not None else 0
        if got_t + got_n < count:
            name = "mitoses" if category == MITOSIS else "imposters"
            fewer = "fewer --imposters" if category != MITOSIS else "fewer --mitoses"
            if category == MITOSIS and cfg.mitoses_per_mm2 is not None:
                fewer = f"a lower --mitoses-per-mm2 (this slide's {cfg.mitoses_per_mm2:g})"
            raise ConfigError(
                f"cannot place {count} {name} on a {cfg.width}x{cfg.height} slide "
                f"(room for {got_t + got_n}); use a larger --size or {fewer}"
            )
        for i in range(start, len(placed_x)):
            in_t = (i - start) < got_t
            if category == MITOSIS:
                phase, blobs = _mitosis_shape(rng, px)
                dark = rng.uniform(2.6, 3.4)
                halo = px(rng.uniform(6.0, 8.0)) if rng.random() < 0.8 else 0.0
                rim = 0.0
            else:
                phase, blobs = -1, _imposter_shape(rng, px)
                dark = rng.uniform(2.4, 3.2)
                halo = px(rng.uniform(5.0, 7.0)) if rng.random() < 0.4 else 0.0
                rim = rng.uniform(0.15, 0.45)
            used = blobs[:, 3] > 0
            centre_dist = np.hypot(blobs[used, 0], blobs[used, 1])
            if category == MITOSIS:
                reach = float(np.max(centre_dist + 2.5 * blobs[used, 2]))
            else:  # discs plus the eosinophilic rim at 1.7x the body radius
                reach = 1.7 * float(np.max(centre_dist + blobs[used, 2]))
            extent = max(reach, halo) + 2.0
            rows.append((placed_x[i], placed_y[i], category, phase, in_t, dark, blobs, halo, rim, extent))

    if not rows:
        e = np.zeros(0)
        return Specials(e, e, e.astype(int), e.astype(int), e.astype(bool), e, np.zeros((0, N_BLOBS, 4)), e, e, e)
    cols = list(zip(*rows, strict=True))
    return Specials(
        np.array(cols[0]),
        np.array(cols[1]),
        np.array(cols[2], dtype=int),
        np.array(cols[3], dtype=int),
        np.array(cols[4], dtype=bool),
        np.array(cols[5]),
        np.stack(cols[6]),
        np.array(cols[7]),
        np.array(cols[8]),
        np.array(cols[9]),
    )


def specials(config: SynthConfig) -> Specials:
    """Mitoses and imposters of ``config`` (cached; independent of scanner and blur).

    ``config.mitoses`` of them are mitotic figures, or, when ``config.mitoses_per_mm2`` is
    set, that density times the slide's tissue area (rounded).
    """
    return _specials(config.content_key())
