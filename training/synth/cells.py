"""Cells: where they are (placement) and what they look like (drawing).

Regular cells (tumour, gland epithelium, fibroblasts, lymphocytes, vessel-wall
cells, red blood cells) sit on a global jittered hexagonal lattice per cell
kind. Each lattice site is a spatial block with its own random numbers,
``hash_uniform(seed(kind), i, j, k)``: a tile gathers the sites that can reach
it (its bounds grown by the kind's largest radius), thins them by the layout
(a site holds a cell with probability ``acceptance(fields at the site)``) and
draws them, so a tile never depends on what else was rendered.

Mitotic figures and imposters ("specials") are few and counted exactly, so
they are placed once per slide by rejection sampling (:func:`specials`) and
regular nuclei too close to one are removed.

Drawing is vectorised over a batch of cells: each cell gets a small square
patch of pixels around it (local bounding box), the batch is evaluated as
(N, P, P) arrays and each patch is added into the tile by slicing. Channels:
``h_tex`` (haematoxylin modulated by the chromatin texture), ``h_flat``
(haematoxylin as drawn), ``e_add`` (eosin) and ``cover`` (how much the cell
hides the background eosin); canvases that ask for it (``SynthConfig.haemoglobin``
above 0) also get ``hb``, the red cells' eosin again, which the renderer turns into
their haemoglobin. :func:`draw_nuclei_mask` marks, from the same
shapes on the same patches, which level-0 pixels are nucleus (the truth for
nuclei segmentation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from algorithm.errors import ConfigError
from training.synth.config import SynthConfig
from training.synth.layout import Fields, Layout, PointSampler, build_layout, fields, tissue_area_mm2
from training.synth.noise import derive_seed, hash_uniform
from training.synth.shapes import Blob

# Above this downsample cells are a few pixels wide: render their expected
# density (mean field) instead of drawing them one by one.
MAX_CELL_DOWNSAMPLE = 8.0

CHANNELS = ("h_tex", "h_flat", "e_add", "cover")
# The red cells' eosin once more, on canvases that ask for it: where their haemoglobin is
# (training.synth.render colours it when SynthConfig.haemoglobin > 0; without it, no arithmetic changes).
HAEMOGLOBIN = "hb"
N_UNIFORMS = 20

# MIDOG boxes: 50 px at 0.25 um/px, i.e. 12.5 um, centred on the cell.
BOX_UM = 12.5
MITOSIS = 1
IMPOSTER = 2
PHASES = ("prophase", "metaphase", "anaphase", "telophase")
_PHASE_P = (0.3, 0.4, 0.2, 0.1)
N_BLOBS = 18


@dataclass(frozen=True)
class CellKind:
    """One kind of regular cell: where its lattice sites lie and how far its drawing can reach."""

    name: str
    spacing_um: float  # hexagonal lattice pitch
    jitter: float  # site jitter as a fraction of the pitch
    extent_um: float  # largest radius a cell of this kind can reach
    shape: str  # "nucleus" or "rbc"


KINDS: tuple[CellKind, ...] = (
    CellKind("tumour", 14.0, 0.35, 10.5, "nucleus"),
    CellKind("gland", 7.0, 0.22, 5.5, "nucleus"),
    CellKind("fibroblast", 15.0, 0.45, 9.5, "nucleus"),
    CellKind("lymphocyte", 8.0, 0.35, 4.3, "nucleus"),
    CellKind("wall", 9.0, 0.40, 7.0, "nucleus"),
    CellKind("rbc", 6.6, 0.22, 4.3, "rbc"),
)
KIND_BY_NAME = {k.name: k for k in KINDS}

# Positive slides (SynthConfig.positive, a slide-level label): every tumour nucleus of the slide
# changes a little, drawn from the same uniforms as on the negative slide of the same seed. Each
# shift is smaller than the nuclei's own spread on a negative slide (semi-axes 3.4-5.6 um, some
# 1.4x larger; 15% hyperchromatic; nucleoli in 75%), so no nucleus or small region shows the label
# plainly: a model finds it only by pooling many tumour cells, as a weakly supervised slide
# classifier must. Other cell kinds, the layout, the specials and the confounders do not change.
POSITIVE_NUCLEUS_SCALE = 1.18  # both semi-axes of a tumour nucleus (area x1.39)
POSITIVE_HYPER_SHARE = 0.35  # hyperchromatic tumour nuclei (negative slides: 0.15)
POSITIVE_TEXTURE = 0.8  # the granular share of the chromatin: coarser (negative slides: 0.7)
POSITIVE_NUCLEOLUS_SHARE = 0.9  # tumour nuclei with a visible nucleolus (negative slides: 0.75)


def acceptance(kind: str, f: Fields) -> np.ndarray:
    """Probability that a lattice site holds a cell of ``kind`` (the layout's say)."""
    if kind == "tumour":
        return f.nest * np.float32(0.95)
    if kind == "gland":
        return f.gland * np.float32(0.97)
    if kind == "fibroblast":
        return f.stroma * np.float32(0.25)
    if kind == "lymphocyte":
        return f.stroma * (np.float32(0.015) + np.float32(0.6) * f.lymph) + f.nest * np.float32(0.02)
    if kind == "wall":
        return f.wall * np.float32(0.5)
    if kind == "rbc":
        return np.maximum(f.lumen * np.float32(0.8), f.bleed * np.float32(0.85))
    raise ValueError(kind)


# --------------------------------------------------------------------------- lattice


def _lattice_sites(
    layout: Layout, kind: CellKind, x0: float, y0: float, x1: float, y1: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Site indices and jittered centres of ``kind`` whose cells can touch [x0, x1) x [y0, y1)."""
    s = layout.px(kind.spacing_um)
    sy = s * math.sqrt(3.0) / 2.0
    margin = layout.px(_extent_um(layout, kind)) + kind.jitter * s + 1.0
    j = np.arange(math.floor((y0 - margin) / sy) - 1, math.ceil((y1 + margin) / sy) + 1)
    i = np.arange(math.floor((x0 - margin) / s) - 1, math.ceil((x1 + margin) / s) + 1)
    jj_grid, ii_grid = np.meshgrid(j, i, indexing="ij")
    ii = ii_grid.ravel()
    jj = jj_grid.ravel()
    # Uniforms 0-2 (acceptance, jitter) for every site; the rest only for kept ones (see _more_uniforms).
    u = hash_uniform(_kind_seed(layout.seed, kind.name), ii[:, None], jj[:, None], np.arange(3)[None, :])
    cx = (ii + 0.5 + 0.5 * (jj & 1) + kind.jitter * (2.0 * u[:, 1] - 1.0)) * s
    cy = (jj + 0.5 + kind.jitter * (2.0 * u[:, 2] - 1.0)) * sy
    near = (cx > x0 - margin) & (cx < x1 + margin) & (cy > y0 - margin) & (cy < y1 + margin)
    return cx[near], cy[near], u[near], ii[near], jj[near]


def _extent_um(layout: Layout, kind: CellKind) -> float:
    """The largest radius a cell of ``kind`` can reach on this slide: tumour nuclei reach further on positive ones."""
    if layout.positive and kind.name == "tumour":
        return kind.extent_um * POSITIVE_NUCLEUS_SCALE
    return kind.extent_um


def _kind_seed(seed: int, kind: str) -> int:
    return derive_seed(seed, "cells", kind)


def _more_uniforms(seed: int, kind: str, u: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """All N_UNIFORMS uniforms of the given sites (the first three already drawn)."""
    rest = hash_uniform(_kind_seed(seed, kind), ii[:, None], jj[:, None], np.arange(3, N_UNIFORMS)[None, :])
    return np.concatenate([u, rest], axis=1)


def _relevant(layout: Layout, kind: str, bounds: tuple[float, float, float, float], margin: float) -> bool:
    """Whether any region that can hold ``kind`` comes near the bounds (skips whole kinds)."""
    x0, y0, x1, y1 = bounds[0] - margin, bounds[1] - margin, bounds[2] + margin, bounds[3] + margin
    if kind == "tumour":
        return layout.tumour is not None and layout.tumour.intersects(x0, y0, x1, y1, 1.1)
    if kind == "gland":
        return any(b.intersects(x0, y0, x1, y1, 1.1) for b in layout.glands)
    if kind == "wall":
        return any(b.intersects(x0, y0, x1, y1, 1.8) for b in layout.vessels)
    if kind == "rbc":
        return any(b.intersects(x0, y0, x1, y1, 1.1) for b in layout.vessels + layout.bleeds)
    return True


def _nearest_centre_angle(
    cx: np.ndarray, cy: np.ndarray, blobs: tuple[Blob, ...], x0: float, y0: float, x1: float, y1: float
) -> np.ndarray:
    """Angle of the vector from the nearest blob centre to each point (0 where there is none)."""
    local = [b for b in blobs if b.intersects(x0, y0, x1, y1, 2.0)]
    if not local or len(cx) == 0:
        return np.zeros(len(cx))
    bx = np.array([b.cx for b in local])
    by = np.array([b.cy for b in local])
    d2 = (cx[:, None] - bx[None, :]) ** 2 + (cy[:, None] - by[None, :]) ** 2
    k = np.argmin(d2, axis=1)
    return np.arctan2(cy - by[k], cx - bx[k])


def _params(
    layout: Layout,
    kind: str,
    cx: np.ndarray,
    cy: np.ndarray,
    u: np.ndarray,
    f: Fields,
    bounds: tuple[float, float, float, float],
) -> dict[str, np.ndarray]:
    """Shape parameters (level-0 px) of accepted cells of ``kind`` from their uniforms ``u``."""
    px = layout.px
    n = len(cx)
    p = {"x": cx, "y": cy}
    zero = np.zeros(n)
    angle = math.pi * u[:, 6]
    if kind == "tumour":
        a = px(3.4) + px(2.2) * u[:, 3]
        a = np.where(u[:, 4] > 0.93, a * 1.4, a)
        hyper_cut, tex, nucleolus_cut = 0.85, 0.7, 0.75
        if layout.positive:  # the same uniforms, other thresholds and sizes (see POSITIVE_NUCLEUS_SCALE)
            a = a * POSITIVE_NUCLEUS_SCALE
            hyper_cut, tex = 1.0 - POSITIVE_HYPER_SHARE, POSITIVE_TEXTURE
            nucleolus_cut = POSITIVE_NUCLEOLUS_SHARE
        b = a * (0.68 + 0.27 * u[:, 5])
        dark = 1.25 + 0.5 * u[:, 11]
        hyper = u[:, 12] > hyper_cut
        dark = np.where(hyper, dark * 1.3, dark)
        p.update(
            a=a,
            b=b,
            angle=angle,
            h2=0.10 * u[:, 7],
            p2=2 * math.pi * u[:, 8],
            h3=0.07 * u[:, 9],
            p3=2 * math.pi * u[:, 10],
            dark=dark,
            pale=np.where(hyper, 0.1, 0.4),
            rim=np.full(n, 0.45),
            tex=np.full(n, tex),
            nuc=np.where(u[:, 13] < nucleolus_cut, 0.9, 0.0),
            nuc_r=px(0.6) + zero,
            nuc_x=0.35 * a * u[:, 14] * np.cos(2 * math.pi * u[:, 15]),
            nuc_y=0.35 * b * u[:, 14] * np.sin(2 * math.pi * u[:, 15]),
        )
    elif kind == "gland":
        a = px(3.0) + px(1.2) * u[:, 3]
        radial = _nearest_centre_angle(cx, cy, layout.glands, *bounds)
        p.update(
            a=a,
            b=a * (0.6 + 0.25 * u[:, 5]),
            angle=radial + 0.2 * (u[:, 6] - 0.5),
            h2=0.03 * u[:, 7],
            p2=2 * math.pi * u[:, 8],
            h3=zero,
            p3=zero,
            dark=1.3 + 0.4 * u[:, 11],
            pale=np.full(n, 0.15),
            rim=np.full(n, 0.25),
            tex=np.full(n, 0.5),
            nuc=np.where(u[:, 13] < 0.2, 0.4, 0.0),
            nuc_r=px(0.4) + zero,
            nuc_x=zero,
            nuc_y=zero,
        )
    elif kind == "fibroblast":
        a = px(4.5) + px(3.5) * u[:, 3]
        # Fibre stripes run perpendicular to their wave vector angle.
        fam = np.where(f.fibre_mix > u[:, 4], layout.fibre_angles[1], layout.fibre_angles[0]) + math.pi / 2
        p.update(
            a=a,
            b=px(1.1) + px(0.8) * u[:, 5],
            angle=fam + 0.25 * (u[:, 6] - 0.5),
            h2=zero,
            p2=zero,
            h3=0.06 * u[:, 9],
            p3=2 * math.pi * u[:, 10],
            dark=1.5 + 0.5 * u[:, 11],
            pale=np.zeros(n),
            rim=np.full(n, 0.1),
            tex=np.full(n, 0.4),
            nuc=zero,
            nuc_r=px(0.5) + zero,
            nuc_x=zero,
            nuc_y=zero,
        )
    elif kind == "lymphocyte":
        a = px(2.7) + px(0.9) * u[:, 3]
        p.update(
            a=a,
            b=a * (0.85 + 0.15 * u[:, 5]),
            angle=angle,
            h2=0.04 * u[:, 7],
            p2=2 * math.pi * u[:, 8],
            h3=zero,
            p3=zero,
            dark=2.0 + 0.6 * u[:, 11],
            pale=np.zeros(n),
            rim=np.full(n, 0.15),
            tex=np.full(n, 0.5),
            nuc=zero,
            nuc_r=px(0.5) + zero,
            nuc_x=zero,
            nuc_y=zero,
        )
    elif kind == "wall":
        tangent = _nearest_centre_angle(cx, cy, layout.vessels, *bounds) + math.pi / 2
        a = px(3.8) + px(2.2) * u[:, 3]
        p.update(
            a=a,
            b=px(1.1) + px(0.6) * u[:, 5],
            angle=tangent + 0.2 * (u[:, 6] - 0.5),
            h2=zero,
            p2=zero,
            h3=0.04 * u[:, 9],
            p3=2 * math.pi * u[:, 10],
            dark=1.5 + 0.4 * u[:, 11],
            pale=np.zeros(n),
            rim=np.full(n, 0.1),
            tex=np.full(n, 0.4),
            nuc=zero,
            nuc_r=px(0.5) + zero,
            nuc_x=zero,
            nuc_y=zero,
        )
    elif kind == "rbc":
        a = px(3.3) + px(0.6) * u[:, 3]
        p.update(a=a, b=a * (0.8 + 0.2 * u[:, 5]), angle=angle, eo=1.1 + 0.5 * u[:, 11])
    else:  # pragma: no cover
        raise ValueError(kind)
    return p


class Obstacles(Protocol):
    """Objects regular cells keep clear of (:class:`Specials`, the confounders)."""

    def __len__(self) -> int: ...

    def too_close(self, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
        """Whether each (x, y) lies within ``radius`` (level-0 px) plus half an object's extent."""
        ...


def regular_cells(
    layout: Layout,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    avoid: Specials | None = None,
    clear: Obstacles | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """All regular cells (per kind: parameter arrays) that can touch [x0, x1) x [y0, y1).

    Nucleated cells too close to ``avoid`` (mitoses and imposters) or ``clear`` (the
    confounders, :mod:`training.synth.confounders`) are left out: those take their place.
    """
    bounds = (x0, y0, x1, y1)
    empty = np.zeros(0)
    sites = []
    for kind in KINDS:
        if _relevant(layout, kind.name, bounds, layout.px(_extent_um(layout, kind) + kind.spacing_um)):
            sites.append(_lattice_sites(layout, kind, x0, y0, x1, y1))
        else:
            sites.append((empty, empty, np.zeros((0, 3)), empty.astype(np.int64), empty.astype(np.int64)))
    # One layout evaluation for the sites of every kind.
    all_x = np.concatenate([s[0] for s in sites])
    all_y = np.concatenate([s[1] for s in sites])
    f_all = fields(layout, PointSampler(all_x, all_y, lattice=True)) if len(all_x) else None
    out = {}
    start = 0
    for kind, (cx, cy, u, ii, jj) in zip(KINDS, sites, strict=True):
        part = slice(start, start + len(cx))
        start += len(cx)
        if len(cx):
            assert f_all is not None  # this kind has sites, so all_x was not empty
            f = _subset(f_all, part)
            keep = u[:, 0] < acceptance(kind.name, f)
            for obstacles in (avoid, clear):
                if obstacles is not None and len(obstacles) and kind.name != "rbc":
                    keep &= ~obstacles.too_close(cx, cy, layout.px(kind.extent_um * 0.3 + 2.0))
            f = _subset(f, keep)
            cx, cy = cx[keep], cy[keep]
            u = _more_uniforms(layout.seed, kind.name, u[keep], ii[keep], jj[keep])
        else:
            f = _empty_fields()
            u = np.zeros((0, N_UNIFORMS))
        out[kind.name] = _params(layout, kind.name, cx, cy, u, f, bounds)
    return out


def _empty_fields() -> Fields:
    return Fields(*(np.zeros(0, dtype=np.float32) for _ in range(9)))


def _subset(f: Fields, keep: np.ndarray | slice) -> Fields:
    return Fields(**{k: v[keep] for k, v in vars(f).items()})


# --------------------------------------------------------------------------- specials


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
            raise ConfigError(
                f"cannot place {count} {name} on a {cfg.width}x{cfg.height} slide "
                f"(room for {got_t + got_n}); use a larger --size or fewer --{name}"
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


# --------------------------------------------------------------------------- drawing


class PatchGrid:
    """An output grid cells are drawn on in square patches: pixel (r, c) centre is
    (x0 + (c + 0.5) d, y0 + (r + 0.5) d) in level-0 coordinates."""

    def __init__(self, x0: float, y0: float, width: int, height: int, downsample: float):
        self.x0, self.y0, self.w, self.h, self.d = x0, y0, width, height, float(downsample)

    def patches(
        self, cx: np.ndarray, cy: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Patch geometry for square patches of side ~2*radius (output px) around the centres:
        ``dx`` (N, 1, P) and ``dy`` (N, P, 1) level-0 offsets of pixel centres from the cell
        centre, and the patch origins (column, row) on the canvas."""
        d = self.d
        p = int(math.ceil(2.0 * radius / d)) + 2
        fx = (cx - self.x0) / d - 0.5
        fy = (cy - self.y0) / d - 0.5
        c0 = np.round(fx).astype(np.int64) - p // 2
        r0 = np.round(fy).astype(np.int64) - p // 2
        off = np.arange(p)
        dx = (self.x0 + ((c0[:, None] + off[None, :]) + 0.5) * d - cx[:, None]).astype(np.float32)[:, None, :]
        dy = (self.y0 + ((r0[:, None] + off[None, :]) + 0.5) * d - cy[:, None]).astype(np.float32)[:, :, None]
        return dx, dy, (c0, r0)


class Canvas(PatchGrid):
    """Per-channel accumulators of one output grid (see :class:`PatchGrid` for its pixels).

    ``haemoglobin``: also accumulate the red cells' haemoglobin (channel :data:`HAEMOGLOBIN`).
    """

    def __init__(self, x0: float, y0: float, width: int, height: int, downsample: float, haemoglobin: bool = False):
        super().__init__(x0, y0, width, height, downsample)
        names = CHANNELS + (HAEMOGLOBIN,) if haemoglobin else CHANNELS
        self.acc = {c: np.zeros((height, width), dtype=np.float32) for c in names}

    def add(self, origin: tuple[np.ndarray, np.ndarray], **channels: np.ndarray) -> None:
        """Add (N, P, P) patches of each channel at their origins (clipped to the canvas).

        A loop over cells with slice additions: a tile holds a few hundred
        cells, and this beats scattering every patch pixel (bincount).
        """
        c0, r0 = origin
        if len(c0) == 0:
            return
        arrays = [(self.acc[name], np.broadcast_to(v, (len(c0),) + v.shape[1:])) for name, v in channels.items()]
        p = arrays[0][1].shape[-1]
        w, h = self.w, self.h
        for i in range(len(c0)):
            x0, y0 = int(c0[i]), int(r0[i])
            xa, ya = max(x0, 0), max(y0, 0)
            xb, yb = min(x0 + p, w), min(y0 + p, h)
            if xa >= xb or ya >= yb:
                continue
            src = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
            for acc, v in arrays:
                acc[ya:yb, xa:xb] += v[i][src]

    def result(self) -> dict[str, np.ndarray]:
        """The accumulated channels (the renderer turns them into colours)."""
        return self.acc


def _buckets(radius: np.ndarray, d: float) -> Iterator[tuple[np.ndarray, float]]:
    """Group cells by patch size (multiples of 8 output px) so each batch is one array."""
    p = np.ceil(2.0 * radius / d / 8.0).astype(int)
    for value in np.unique(p):
        idx = np.flatnonzero(p == value)
        yield idx, value * 8.0 * d / 2.0


def _nucleus_reach(p: dict[str, np.ndarray], d: float) -> np.ndarray:
    """How far (level-0 px) each nucleus's drawing can reach from its centre, plus a pixel."""
    return p["a"] * (1.0 + p["h2"] + p["h3"]) + d


def _nucleus_distance(dx: np.ndarray, dy: np.ndarray, f: dict[str, np.ndarray]) -> np.ndarray:
    """Normalised distance of each patch pixel from its nucleus's centre: < 1 inside the outline
    (an ellipse ``a`` x ``b`` at ``angle``, its radius modulated by 2nd and 3rd harmonics)."""
    c, s = np.cos(f["angle"]), np.sin(f["angle"])
    u = (dx * c + dy * s) / f["a"]
    v = (dy * c - dx * s) / f["b"]
    rr = np.sqrt(u * u + v * v)
    inv = 1.0 / np.maximum(rr, 1e-4)
    c1, s1 = u * inv, v * inv
    c2, s2 = c1 * c1 - s1 * s1, 2.0 * c1 * s1
    c3, s3 = c2 * c1 - s2 * s1, s2 * c1 + c2 * s1
    scale = (
        1.0
        + f["h2"] * (c2 * np.cos(f["p2"]) - s2 * np.sin(f["p2"]))
        + f["h3"] * (c3 * np.cos(f["p3"]) - s3 * np.sin(f["p3"]))
    )
    return rr / scale


def _draw_nuclei(canvas: Canvas, p: dict[str, np.ndarray]) -> None:
    if len(p["x"]) == 0:
        return
    d = canvas.d
    for idx, radius in _buckets(_nucleus_reach(p, d), d):
        q = {k: v[idx] for k, v in p.items()}
        dx, dy, origin = canvas.patches(q["x"], q["y"], radius)
        f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
        dn = _nucleus_distance(dx, dy, f)
        radius_out = np.sqrt(f["a"] * f["b"]) / d
        inside = np.clip((1.0 - dn) * radius_out + 0.5, 0.0, 1.0)
        profile = 1.0 - f["pale"] * np.clip(1.0 - dn * dn, 0.0, 1.0)
        rim_w = np.float32(max(0.7 * d, 2.0))
        depth = (1.0 - dn) * np.sqrt(f["a"] * f["b"])
        rim = f["rim"] * np.exp(-((depth / rim_w) ** 2))
        dark = f["dark"] * inside
        flat = dark * (profile * (1.0 - f["tex"]) + rim)
        if np.any(q["nuc"] > 0):
            sig2 = f["nuc_r"] ** 2 + np.float32(0.25 * d * d)
            gain = f["nuc"] * f["nuc_r"] ** 2 / sig2
            flat = flat + inside * gain * np.exp(-((dx - f["nuc_x"]) ** 2 + (dy - f["nuc_y"]) ** 2) / (2.0 * sig2))
        canvas.add(origin, h_tex=dark * profile * f["tex"], h_flat=flat, cover=inside)


Ellipse = tuple[tuple[np.ndarray, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def ellipse_patches(canvas: Canvas, p: dict[str, np.ndarray], reach: np.ndarray) -> Iterator[Ellipse]:
    """Filled ellipses (``x``, ``y``, semi-axes ``a``, ``b``, ``angle``) in patches of ``reach`` + a pixel around
    their centres: per bucket, the patches' origin, the other fields as float32 ``(n, 1, 1)``, the offsets
    ``dx``, ``dy``, the elliptic distance ``dn`` (1 on the outline) and the antialiased coverage ``inside``."""
    d = canvas.d
    for idx, radius in _buckets(reach + d, d):
        q = {k: v[idx] for k, v in p.items()}
        dx, dy, origin = canvas.patches(q["x"], q["y"], radius)
        f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
        c, s = np.cos(f["angle"]), np.sin(f["angle"])
        u = (dx * c + dy * s) / f["a"]
        v = (dy * c - dx * s) / f["b"]
        dn = np.sqrt(u * u + v * v)
        inside = np.clip((1.0 - dn) * (np.sqrt(f["a"] * f["b"]) / d) + 0.5, 0.0, 1.0)
        yield origin, f, dx, dy, dn, inside


def _draw_rbc(canvas: Canvas, p: dict[str, np.ndarray]) -> None:
    if len(p["x"]) == 0:
        return
    haemoglobin = HAEMOGLOBIN in canvas.acc
    for origin, f, _, _, dn, inside in ellipse_patches(canvas, p, p["a"]):
        pallor = 1.0 - 0.4 * np.exp(-((dn / 0.5) ** 2))
        eosin = f["eo"] * inside * pallor
        # Haemoglobin goes with the eosin: as much as the cell is thick (the pale centre has less).
        extra = {HAEMOGLOBIN: eosin} if haemoglobin else {}
        canvas.add(origin, e_add=eosin, cover=0.5 * inside, **extra)


def _special_bodies(blobs: np.ndarray, dx: np.ndarray, dy: np.ndarray, d: float) -> tuple[np.ndarray, np.ndarray]:
    """The nuclear material of special cells on their patches, ``(chrom, body)`` each (N, P, P).

    ``chrom``: a mitosis's chromatin, a saturating sum of Gaussian clumps (irregular,
    knobbly, no membrane), 0..1. ``body``: an imposter's union of smooth discs with a
    crisp, round edge (the disc coverage of each pixel), 0..1. ``blobs`` float32 (N, K, 4).
    """
    ox = blobs[:, :, 0, None, None]  # (N, K, 1, 1)
    oy = blobs[:, :, 1, None, None]
    size = blobs[:, :, 2, None, None]
    weight = blobs[:, :, 3, None, None]
    ddx = dx[:, None] - ox  # (N, K, P, P)
    ddy = dy[:, None] - oy
    r2 = ddx * ddx + ddy * ddy
    sig2 = size * size + np.float32(0.25 * d * d)
    gauss = (weight * (size * size / sig2) * np.exp(-r2 / (2.0 * sig2))).sum(axis=1)
    chrom = 1.0 - np.exp(-2.2 * gauss)
    disc = np.clip((size - np.sqrt(r2)) / np.float32(max(d, 1.0)) + 0.5, 0.0, 1.0) * (weight > 0)
    return chrom, disc.max(axis=1)


def draw_specials(canvas: Canvas, sp: Specials) -> None:
    """Draw the mitotic figures and imposters of ``sp`` onto ``canvas`` (their chromatin or body, halo, rim)."""
    if len(sp) == 0:
        return
    d = canvas.d
    for idx, radius in _buckets(sp.extent, d):
        q = sp.select(idx)
        dx, dy, origin = canvas.patches(q.x, q.y, radius)
        blobs = q.blobs.astype(np.float32)
        chrom, body = _special_bodies(blobs, dx, dy, d)
        dark = q.dark.astype(np.float32)[:, None, None]
        is_mit = (q.category == MITOSIS)[:, None, None]
        h = dark * np.where(is_mit, chrom, body * 0.97)
        r_c = np.sqrt(dx * dx + dy * dy)
        halo_r = q.halo.astype(np.float32)[:, None, None]
        halo = np.where(halo_r > 0, np.clip((halo_r - r_c) / np.float32(max(d, 2.0)) + 0.5, 0.0, 1.0), 0.0)
        cover = np.maximum(np.where(is_mit, np.clip(chrom * 1.5, 0, 1), body), 0.55 * halo)
        # Imposters: a shrunken, hyper-eosinophilic cytoplasm rim around the body.
        body_r = (np.hypot(blobs[:, :, 0], blobs[:, :, 1]) + blobs[:, :, 2]) * (blobs[:, :, 3] > 0)
        body_r = body_r.max(axis=1)[:, None, None]
        ring = np.clip((1.7 * body_r - r_c) / np.float32(max(d, 1.0)) + 0.5, 0.0, 1.0) * (1.0 - body)
        rim = q.eosin_rim.astype(np.float32)[:, None, None]
        canvas.add(origin, h_flat=h, cover=cover, e_add=np.where(is_mit, 0.0, rim * ring))


def draw_cells(canvas: Canvas, cells: dict[str, dict[str, np.ndarray]], sp: Specials | None) -> None:
    """Draw the regular cells of each kind, then the specials, onto ``canvas``."""
    for kind in KINDS:
        p = cells.get(kind.name)
        if p is None:
            continue
        if kind.shape == "rbc":
            _draw_rbc(canvas, p)
        else:
            _draw_nuclei(canvas, p)
    if sp is not None:
        draw_specials(canvas, sp)


# --------------------------------------------------------------------------- nuclei truth

# A mitosis's pixel is nucleus where its chromatin hides at least half the background,
# as drawn: cover = clip(1.5 * chrom) >= 0.5.
MITOSIS_CHROMATIN_MIN = 1.0 / 3.0


def draw_nuclei_mask(
    cells: dict[str, dict[str, np.ndarray]], sp: Specials | None, x: float, y: float, width: int, height: int
) -> np.ndarray:
    """Which level-0 pixels of ``[x, x + width) x [y, y + height)`` show a nucleus: bool (height, width).

    The same shapes, on the same patches, as :func:`draw_cells` draws at downsample 1,
    each pixel judged at its centre. A nucleus is:

    * every regular cell of a nucleus kind (tumour, gland epithelium, fibroblast,
      lymphocyte, vessel wall): the pixels inside its drawn outline (where the drawing
      covers at least half the pixel), nucleolus and rim included;
    * a mitotic figure: its condensed chromatin where it hides at least half the
      background (``MITOSIS_CHROMATIN_MIN``); anaphase and telophase are two separate
      parts, so the figure's centre may lie between them, outside the mask;
    * an imposter (a pyknotic nucleus or an apoptotic body: round, smooth, dark
      nuclear material): its discs.

    Not nuclei: red blood cells, a mitosis's clear halo, an imposter's eosinophilic
    cytoplasm rim, and the background haematoxylin of stroma and cytoplasm. The
    confounders' nuclei are added by :func:`training.synth.confounders.mark_nuclei`.
    """
    grid = PatchGrid(x, y, width, height, 1.0)
    mask = np.zeros((height, width), dtype=bool)
    for kind in KINDS:
        p = cells.get(kind.name)
        if p is None or kind.shape != "nucleus" or len(p["x"]) == 0:
            continue
        for idx, radius in _buckets(_nucleus_reach(p, grid.d), grid.d):
            q = {k: v[idx] for k, v in p.items()}
            dx, dy, origin = grid.patches(q["x"], q["y"], radius)
            f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
            _mark(mask, origin, _nucleus_distance(dx, dy, f) <= 1.0)
    if sp is not None and len(sp):
        for idx, radius in _buckets(sp.extent, grid.d):
            s = sp.select(idx)
            dx, dy, origin = grid.patches(s.x, s.y, radius)
            chrom, body = _special_bodies(s.blobs.astype(np.float32), dx, dy, grid.d)
            is_mit = (s.category == MITOSIS)[:, None, None]
            _mark(mask, origin, np.where(is_mit, chrom >= MITOSIS_CHROMATIN_MIN, body >= 0.5))
    return mask


def _mark(mask: np.ndarray, origin: tuple[np.ndarray, np.ndarray], inside: np.ndarray) -> None:
    """OR (N, P, P) boolean patches into ``mask`` at their origins (clipped), as Canvas.add adds."""
    c0, r0 = origin
    p = inside.shape[-1]
    h, w = mask.shape
    for i in range(len(c0)):
        x0, y0 = int(c0[i]), int(r0[i])
        xa, ya = max(x0, 0), max(y0, 0)
        xb, yb = min(x0 + p, w), min(y0 + p, h)
        if xa < xb and ya < yb:
            mask[ya:yb, xa:xb] |= inside[i, ya - y0 : yb - y0, xa - x0 : xb - x0]


# --------------------------------------------------------------------------- mean field


@lru_cache(maxsize=64)
def mean_cell(kind_name: str, mpp: float, positive: bool = False) -> dict[str, float]:
    """Expected channel integrals (level-0 px^2) of one cell of ``kind_name``: drawn,
    not guessed, from 400 sample cells so the mean field matches the cells (``positive``:
    those of a positive slide, so its low-resolution levels show its tumour nuclei too).
    :data:`HAEMOGLOBIN` included (0 but for red cells)."""
    layout = Layout(0, 1 << 20, 1 << 20, mpp, "tumour", 0.0, None, (), (), (), (0.0, 1.0), positive=positive)
    n = 400
    u = hash_uniform(derive_seed(0, "mean-cell", kind_name), np.arange(n)[:, None], 0, np.arange(N_UNIFORMS)[None, :])
    spacing = layout.px(40.0)
    cx = (np.arange(n) % 20 + 0.5) * spacing
    cy = (np.arange(n) // 20 + 0.5) * spacing
    ones = np.ones(n, dtype=np.float32)
    f = Fields(*(ones * v for v in (1, 1, 1, 0, 0, 0, 0, 0, 0.5)))
    p = _params(layout, kind_name, cx, cy, u, f, (0, 0, 1, 1))
    canvas = Canvas(0.0, 0.0, int(20 * spacing) + 1, int(20 * spacing) + 1, 1.0, haemoglobin=True)
    draw_cells(canvas, {kind_name: p}, None)
    return {c: float(a.sum(dtype=np.float64)) / n for c, a in canvas.acc.items()}


def mean_field(layout: Layout, f: Fields, d: float, haemoglobin: bool = False) -> dict[str, np.ndarray]:
    """Expected channel densities per output pixel from the acceptance fields (``haemoglobin``: with
    :data:`HAEMOGLOBIN`, as a :class:`Canvas` that asks for it)."""
    names = CHANNELS + (HAEMOGLOBIN,) if haemoglobin else CHANNELS
    out = {c: np.zeros(f.tissue.shape, dtype=np.float32) for c in names}
    for kind in KINDS:
        s = layout.px(kind.spacing_um)
        site_area = s * s * math.sqrt(3.0) / 2.0
        density = acceptance(kind.name, f) / np.float32(site_area)
        positive = layout.positive and kind.name == "tumour"  # the other kinds are the same on either slide
        for c, m in mean_cell(kind.name, layout.mpp, positive).items():
            if m and c in out:
                out[c] += density * np.float32(m)
    out["cover"] = np.minimum(out["cover"], 1.0)
    return out


def cells_in_region(config: SynthConfig, x: float, y: float, width: float, height: float) -> dict[str, np.ndarray]:
    """Centres (N, 2) of the regular cells of each kind centred in the level-0 box, for checks."""
    from training.synth.confounders import confounders  # it builds on this module

    layout = build_layout(config)
    cells = regular_cells(layout, x, y, x + width, y + height, specials(config), confounders(config))
    out = {}
    for name, p in cells.items():
        inside = (p["x"] >= x) & (p["x"] < x + width) & (p["y"] >= y) & (p["y"] < y + height)
        out[name] = np.stack([p["x"][inside], p["y"][inside]], axis=1)
    return out
