"""Regular cells: where they are and what each one is like.

Regular cells (tumour, gland epithelium, fibroblasts, lymphocytes, vessel-wall
cells, red blood cells) sit on a global jittered hexagonal lattice per cell
kind. Each lattice site is a spatial block with its own random numbers,
``hash_uniform(seed(kind), i, j, k)``: a tile gathers the sites that can reach
it (its bounds grown by the kind's largest radius), thins them by the layout
(a site holds a cell with probability ``acceptance(fields at the site)``) and
gives each cell its parameters (size, shape, darkness, texture, nucleolus), so a
tile never depends on what else was rendered. Cells keep clear of the slide's
mitoses and imposters (:mod:`training.synth.specials`) and confounders;
:mod:`training.synth.drawing` draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from training.synth.layout import Fields, Layout, PointSampler, fields
from training.synth.noise import derive_seed, hash_uniform
from training.synth.shapes import Blob
from training.synth.specials import Specials

N_UNIFORMS = 20


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


def cell_params(
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
        out[kind.name] = cell_params(layout, kind.name, cx, cy, u, f, bounds)
    return out


def _empty_fields() -> Fields:
    return Fields(*(np.zeros(0, dtype=np.float32) for _ in range(9)))


def _subset(f: Fields, keep: np.ndarray | slice) -> Fields:
    return Fields(**{k: v[keep] for k, v in vars(f).items()})
