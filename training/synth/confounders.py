"""Confounders: what real tissue shows that is dark, or round, or irregular, and not mitotic.

A detector trained on mitoses among smooth regular nuclei learns "dark blob", and on real
slides fires at lymphocytes, pyknotic cells and dark spindle nuclei. These objects are
there to be rejected. Each kind is placed with a density per mm^2 of its compartment
(tumour nests: ``nest``; stroma: tissue that is neither nest, vessel nor gland, and not
haemorrhage), scaled by ``SynthConfig.confounders`` (0: none, the slide as before they
existed; 1: the table below; 2: twice as many):

=================  ===========  ========  ===================================================
kind               compartment  per mm^2  looks like
=================  ===========  ========  ===================================================
pyknotic           nest         25        small (r 1.7-2.5 um), very dark, homogeneous, round
                   stroma       10        nucleus with a sharp edge; a shrunken
                                          hypereosinophilic cytoplasm, half with a clear halo
apoptotic          nest         15        an eosinophilic round body (r 3-5 um) holding 2-6
                   stroma       4         dense, round chromatin fragments (karyorrhexis);
                                          most with a clear halo: dark, irregular, not mitotic
hyperchromatic     nest         20        a large (r 3-4.8 um), dark nucleus with a knobbly
                                          outline and coarse chromatin (a prophase look-alike)
tangential         nest         30        a tangentially cut nucleus: large (r 5-7.5 um),
                                          oval, pale, visible chromatin, often a nucleolus
spindle            stroma       30        a dark fibroblast / smooth-muscle nucleus, long and
                                          kinked, or cut obliquely (short, plump), along the fibres
plasma             stroma       25        a plasma cell: eccentric round nucleus with
                                          clock-face chromatin (peripheral rim, central dot)
                                          in an oval amphophilic cytoplasm
lymph_cluster      stroma       8         4-8 small dark round lymphocytes packed together
debris             stroma       6         3-8 tiny irregular dark fragments (nuclear dust)
                   nest         6         scattered over 2.5-5 um, no membrane
=================  ===========  ========  ===================================================

Placement, per kind and compartment: a Poisson number of candidate points uniform over
the slide (mean: density x slide area x ``confounders``), each kept with probability the
compartment's field at the point (so the expected count is the density times the
compartment's area), and none within 12 um of a mitosis or imposter. They are placed
once per slide (cached, like the specials) and drawn by any tile they reach; regular
nuclei too close to one are left out (it takes their place). Randomness: one seeded
generator per kind and compartment, so same seed, same confounders.

Drawing uses the regular nucleus outline (an ellipse with harmonics, chromatin texture
through the render's chromatin noise) for every nuclear part, and an eosin ellipse for
cytoplasm, with an optional clear halo (the background shown through, paler). The nuclei
mask (:func:`mark_nuclei`) holds every nuclear part except debris (fragments, not nuclei).
The truth file lists every confounder (kind, centre, in tumour): negatives to sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from training.synth.config import SynthConfig
from training.synth.drawing import (
    Canvas,
    PatchGrid,
    buckets,
    draw_nuclei,
    ellipse_patches,
    mark,
    nucleus_distance,
    nucleus_reach,
)
from training.synth.layout import PointSampler, build_layout, fields
from training.synth.noise import derive_seed
from training.synth.specials import specials


@dataclass(frozen=True)
class ConfounderKind:
    """One kind of confounder: its densities per compartment and whether its parts are nuclei."""

    name: str
    rates: tuple[tuple[str, float], ...]  # (compartment "nest" | "stroma", per mm^2 at confounders=1)
    nucleus: bool  # its nuclear parts belong in the nuclei mask


CONFOUNDER_KINDS: tuple[ConfounderKind, ...] = (
    ConfounderKind("pyknotic", (("nest", 25.0), ("stroma", 10.0)), True),
    ConfounderKind("apoptotic", (("nest", 15.0), ("stroma", 4.0)), True),
    ConfounderKind("hyperchromatic", (("nest", 20.0),), True),
    ConfounderKind("tangential", (("nest", 30.0),), True),
    ConfounderKind("spindle", (("stroma", 30.0),), True),
    ConfounderKind("plasma", (("stroma", 25.0),), True),
    ConfounderKind("lymph_cluster", (("stroma", 8.0),), True),
    ConfounderKind("debris", (("stroma", 6.0), ("nest", 6.0)), False),
)
CONFOUNDER_NAMES = tuple(k.name for k in CONFOUNDER_KINDS)
# No confounder within this distance (um) of a mitosis or imposter.
SPECIAL_CLEARANCE_UM = 12.0
# Spatial index cell (level-0 px) for finding the confounders a tile must draw.
_BUCKET = 512.0
_NUCLEUS_KEYS = (
    "a",
    "b",
    "angle",
    "h2",
    "p2",
    "h3",
    "p3",
    "dark",
    "pale",
    "rim",
    "tex",
    "nuc",
    "nuc_r",
    "nuc_x",
    "nuc_y",
)
_CYTO_KEYS = ("x", "y", "a", "b", "angle", "eo", "hb", "halo")


@dataclass(frozen=True)
class Confounders:
    """The confounders of a slide (level-0 px), with their drawn parts.

    Objects: centre, kind (index into CONFOUNDER_NAMES), in tumour, extent (radius holding
    the drawing). Parts, grouped by object (``*_start``: offsets, CSR style): nuclear
    ellipses in the regular nucleus format (``nuclei``, plus ``mask``: counts as nucleus)
    and cytoplasm ellipses (``cyto``). Objects are sorted by a coarse spatial index so
    :meth:`near` is cheap on any slide size.
    """

    x: np.ndarray
    y: np.ndarray
    kind: np.ndarray
    in_tumour: np.ndarray
    extent: np.ndarray
    nuclei: dict[str, np.ndarray]
    nuclei_start: np.ndarray  # (N + 1,)
    cyto: dict[str, np.ndarray]
    cyto_start: np.ndarray  # (N + 1,)
    key: np.ndarray  # spatial index key of each object (sorted)
    columns: int  # buckets per row of the index
    max_extent: float

    def __len__(self) -> int:
        return len(self.x)

    def select(self, idx: np.ndarray) -> Confounders:
        """The confounders at indices ``idx`` (ascending), with their parts."""
        nuc_idx, nuc_start = _ranges(self.nuclei_start, idx)
        cyto_idx, cyto_start = _ranges(self.cyto_start, idx)
        return Confounders(
            self.x[idx],
            self.y[idx],
            self.kind[idx],
            self.in_tumour[idx],
            self.extent[idx],
            {k: v[nuc_idx] for k, v in self.nuclei.items()},
            nuc_start,
            {k: v[cyto_idx] for k, v in self.cyto.items()},
            cyto_start,
            self.key[idx],
            self.columns,
            self.max_extent,
        )

    def near(self, x0: float, y0: float, x1: float, y1: float) -> Confounders:
        """The confounders whose drawing can reach into [x0, x1) x [y0, y1)."""
        if len(self) == 0:
            return self
        m = self.max_extent
        c0, c1 = max(int((x0 - m) // _BUCKET), 0), min(int((x1 + m) // _BUCKET), self.columns - 1)
        r0, r1 = max(int((y0 - m) // _BUCKET), 0), int((y1 + m) // _BUCKET)
        if c0 > c1 or r0 > r1:
            return self.select(np.zeros(0, dtype=np.int64))
        rows = np.arange(r0, r1 + 1)
        lo = np.searchsorted(self.key, rows * self.columns + c0, side="left")
        hi = np.searchsorted(self.key, rows * self.columns + c1, side="right")
        cand = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]).astype(np.int64)
        e = self.extent[cand]
        xs, ys = self.x[cand], self.y[cand]
        return self.select(cand[(xs + e > x0) & (xs - e < x1) & (ys + e > y0) & (ys - e < y1)])

    def too_close(self, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
        """Whether each (x, y) lies within ``radius`` plus half a confounder's extent (cells keep clear)."""
        if len(self) == 0 or len(x) == 0:
            return np.zeros(len(x), dtype=bool)
        d2 = (x[:, None] - self.x[None, :]) ** 2 + (y[:, None] - self.y[None, :]) ** 2
        return np.any(d2 < (radius + 0.5 * self.extent[None, :]) ** 2, axis=1)


def _ranges(start: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Part indices of the objects ``idx`` (CSR offsets ``start``) and their new offsets."""
    counts = start[idx + 1] - start[idx]
    new_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    parts = np.repeat(start[idx] - new_start[:-1], counts) + np.arange(new_start[-1])
    return parts.astype(np.int64), new_start


# --------------------------------------------------------------------------- shapes

# A kind's shape: (rng, n objects, px, fibre angle at each) -> nuclear parts (n, K) with ``used``, and
# cytoplasm (n,) with ``has`` (offsets dx, dy from the object's centre; level-0 px).
Shape = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]


def _nuclear(n: int, k: int, px: Callable[[float], float], **values: Any) -> dict[str, np.ndarray]:
    """Nuclear part arrays (n, k) in the regular nucleus format (zeros where not given)."""
    out = {key: np.zeros((n, k)) for key in ("dx", "dy", *_NUCLEUS_KEYS)}
    out["nuc_r"] += px(0.5)
    out["used"] = np.ones((n, k), dtype=bool)
    for key, v in values.items():
        out[key] = np.broadcast_to(np.asarray(v), (n, k)).copy() if key != "used" else v
    return out


def _cytoplasm(n: int, **values: Any) -> dict[str, np.ndarray]:
    out = {key: np.zeros(n) for key in ("dx", "dy", "a", "b", "angle", "eo", "hb", "halo")}
    out["has"] = np.ones(n, dtype=bool)
    for key, v in values.items():
        out[key] = np.broadcast_to(np.asarray(v), (n,)).copy() if key != "has" else v
    return out


def _no_cytoplasm(n: int) -> dict[str, np.ndarray]:
    return _cytoplasm(n, has=np.zeros(n, dtype=bool))


def _col(v: np.ndarray) -> np.ndarray:
    return v[:, None]


def _pyknotic(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    a = px(1.7) + px(0.8) * rng.random(n)
    nuc = _nuclear(
        n,
        1,
        px,
        a=_col(a),
        b=_col(a * rng.uniform(0.85, 1.0, n)),
        angle=_col(rng.uniform(0, math.pi, n)),
        h2=_col(0.06 * rng.random(n)),
        p2=_col(rng.uniform(0, 2 * math.pi, n)),
        dark=_col(rng.uniform(3.0, 3.8, n)),
        rim=0.1,
        tex=0.1,
    )
    ca = a * rng.uniform(1.6, 2.2, n)
    halo = np.where(rng.random(n) < 0.5, ca * rng.uniform(1.3, 1.6, n), 0.0)
    cyto = _cytoplasm(
        n,
        a=ca,
        b=ca * rng.uniform(0.8, 1.0, n),
        angle=rng.uniform(0, math.pi, n),
        eo=rng.uniform(0.6, 1.0, n),
        hb=0.05,
        halo=halo,
    )
    return nuc, cyto


def _apoptotic(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    k = 6
    ca = px(3.0) + px(2.0) * rng.random(n)
    count = rng.integers(2, 7, n)
    used = np.arange(k)[None, :] < count[:, None]
    r = px(0.5) + px(1.0) * rng.random((n, k))
    dist = 0.55 * _col(ca) * np.sqrt(rng.random((n, k)))
    th = rng.uniform(0, 2 * math.pi, (n, k))
    nuc = _nuclear(
        n,
        k,
        px,
        dx=dist * np.cos(th),
        dy=dist * np.sin(th),
        a=r,
        b=r * rng.uniform(0.8, 1.0, (n, k)),
        angle=rng.uniform(0, math.pi, (n, k)),
        h2=0.1 * rng.random((n, k)),
        p2=rng.uniform(0, 2 * math.pi, (n, k)),
        dark=rng.uniform(3.0, 3.6, (n, k)),
        tex=0.05,
        used=used,
    )
    halo = np.where(rng.random(n) < 0.6, ca * rng.uniform(1.25, 1.5, n), 0.0)
    cyto = _cytoplasm(
        n,
        a=ca,
        b=ca * rng.uniform(0.75, 1.0, n),
        angle=rng.uniform(0, math.pi, n),
        eo=rng.uniform(0.9, 1.4, n),
        halo=halo,
    )
    return nuc, cyto


def _hyperchromatic(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    a = px(3.0) + px(1.8) * rng.random(n)
    nuc = _nuclear(
        n,
        1,
        px,
        a=_col(a),
        b=_col(a * rng.uniform(0.65, 0.9, n)),
        angle=_col(rng.uniform(0, math.pi, n)),
        h2=_col(rng.uniform(0.08, 0.18, n)),
        p2=_col(rng.uniform(0, 2 * math.pi, n)),
        h3=_col(rng.uniform(0.06, 0.14, n)),
        p3=_col(rng.uniform(0, 2 * math.pi, n)),
        dark=_col(rng.uniform(2.6, 3.3, n)),
        pale=0.05,
        rim=0.5,
        tex=0.85,
    )
    return nuc, _no_cytoplasm(n)


def _tangential(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    a = px(5.0) + px(2.5) * rng.random(n)
    b = a * rng.uniform(0.5, 0.75, n)
    nuc = _nuclear(
        n,
        1,
        px,
        a=_col(a),
        b=_col(b),
        angle=_col(rng.uniform(0, math.pi, n)),
        h2=_col(0.05 * rng.random(n)),
        p2=_col(rng.uniform(0, 2 * math.pi, n)),
        h3=_col(0.04 * rng.random(n)),
        p3=_col(rng.uniform(0, 2 * math.pi, n)),
        dark=_col(rng.uniform(0.6, 0.95, n)),
        pale=0.5,
        rim=0.35,
        tex=0.85,
        nuc=_col(np.where(rng.random(n) < 0.4, 0.7, 0.0)),
        nuc_r=px(0.7),
        nuc_x=_col(0.3 * a * rng.uniform(-1, 1, n)),
        nuc_y=_col(0.3 * b * rng.uniform(-1, 1, n)),
    )
    return nuc, _no_cytoplasm(n)


def _spindle(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    oblique = rng.random(n) < 0.4
    a = np.where(oblique, px(2.4) + px(1.0) * rng.random(n), px(4.5) + px(3.0) * rng.random(n))
    b = np.where(oblique, a * rng.uniform(0.55, 0.8, n), px(0.9) + px(0.5) * rng.random(n))
    nuc = _nuclear(
        n,
        1,
        px,
        a=_col(a),
        b=_col(b),
        angle=_col(fibre + 0.3 * (rng.random(n) - 0.5)),
        h3=_col(rng.uniform(0.06, 0.14, n)),
        p3=_col(rng.uniform(0, 2 * math.pi, n)),
        dark=_col(rng.uniform(2.5, 3.2, n)),
        rim=0.15,
        tex=0.3,
    )
    return nuc, _no_cytoplasm(n)


def _plasma(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    ca = px(4.5) + px(1.5) * rng.random(n)
    cb = ca * rng.uniform(0.6, 0.8, n)
    angle = rng.uniform(0, 2 * math.pi, n)
    a = px(2.2) + px(0.6) * rng.random(n)
    # The nucleus sits at one end of the cytoplasm's long axis (eccentric).
    off = np.maximum(ca - a * 1.05, 0.0)
    nuc = _nuclear(
        n,
        1,
        px,
        dx=_col(off * np.cos(angle)),
        dy=_col(off * np.sin(angle)),
        a=_col(a),
        b=_col(a * rng.uniform(0.9, 1.0, n)),
        angle=_col(rng.uniform(0, math.pi, n)),
        h2=_col(0.03 * rng.random(n)),
        p2=_col(rng.uniform(0, 2 * math.pi, n)),
        dark=_col(rng.uniform(1.9, 2.5, n)),
        pale=0.35,
        rim=0.8,
        tex=0.6,
        nuc=0.8,
        nuc_r=px(0.6),
    )
    cyto = _cytoplasm(n, a=ca, b=cb, angle=angle, eo=rng.uniform(0.35, 0.55, n), hb=rng.uniform(0.15, 0.25, n))
    return nuc, cyto


def _lymph_cluster(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    k = 8
    count = rng.integers(4, 9, n)
    used = np.arange(k)[None, :] < count[:, None]
    # A sunflower spiral, jittered: packed, touching, not overlapping much.
    j = np.arange(k)[None, :]
    dist = px(3.3) * np.sqrt(j + 0.5) * rng.uniform(0.9, 1.1, (n, k))
    th = j * 2.39996 + rng.uniform(0, 2 * math.pi, (n, 1)) + rng.uniform(-0.15, 0.15, (n, k))
    a = px(2.3) + px(0.7) * rng.random((n, k))
    nuc = _nuclear(
        n,
        k,
        px,
        dx=dist * np.cos(th),
        dy=dist * np.sin(th),
        a=a,
        b=a * rng.uniform(0.85, 1.0, (n, k)),
        angle=rng.uniform(0, math.pi, (n, k)),
        h2=0.04 * rng.random((n, k)),
        p2=rng.uniform(0, 2 * math.pi, (n, k)),
        dark=rng.uniform(2.3, 3.0, (n, k)),
        rim=0.15,
        tex=0.4,
        used=used,
    )
    return nuc, _no_cytoplasm(n)


def _debris(rng: np.random.Generator, n: int, px: Callable[[float], float], fibre: np.ndarray) -> Shape:
    k = 8
    count = rng.integers(3, 9, n)
    used = np.arange(k)[None, :] < count[:, None]
    spread = px(2.5) + px(2.5) * rng.random(n)
    dist = _col(spread) * np.sqrt(rng.random((n, k)))
    th = rng.uniform(0, 2 * math.pi, (n, k))
    a = px(0.3) + px(0.6) * rng.random((n, k))
    nuc = _nuclear(
        n,
        k,
        px,
        dx=dist * np.cos(th),
        dy=dist * np.sin(th),
        a=a,
        b=a * rng.uniform(0.5, 1.0, (n, k)),
        angle=rng.uniform(0, math.pi, (n, k)),
        h2=rng.uniform(0.1, 0.3, (n, k)),
        p2=rng.uniform(0, 2 * math.pi, (n, k)),
        h3=rng.uniform(0.1, 0.3, (n, k)),
        p3=rng.uniform(0, 2 * math.pi, (n, k)),
        dark=rng.uniform(2.0, 3.2, (n, k)),
        tex=0.2,
        used=used,
    )
    return nuc, _no_cytoplasm(n)


_SHAPES: dict[str, Callable[[np.random.Generator, int, Callable[[float], float], np.ndarray], Shape]] = {
    "pyknotic": _pyknotic,
    "apoptotic": _apoptotic,
    "hyperchromatic": _hyperchromatic,
    "tangential": _tangential,
    "spindle": _spindle,
    "plasma": _plasma,
    "lymph_cluster": _lymph_cluster,
    "debris": _debris,
}


# --------------------------------------------------------------------------- placement


def confounders(config: SynthConfig) -> Confounders:
    """The confounders of ``config`` (cached; independent of scanner and blur; none at ``confounders=0``)."""
    return _confounders(config.content_key())


@lru_cache(maxsize=16)
def _confounders(content_key: tuple) -> Confounders:
    cfg = SynthConfig(**dict(content_key))
    layout = build_layout(cfg)
    px = layout.px
    sp = specials(cfg)
    area_mm2 = cfg.width * cfg.height * (cfg.mpp / 1000.0) ** 2
    clearance = px(SPECIAL_CLEARANCE_UM)
    objects: list[tuple[np.ndarray, ...]] = []
    nuclei: list[dict[str, np.ndarray]] = []
    cytos: list[dict[str, np.ndarray]] = []
    for kind_index, kind in enumerate(CONFOUNDER_KINDS):
        for compartment, rate in kind.rates:
            if cfg.confounders <= 0:
                continue
            rng = np.random.default_rng(_seed(cfg.seed, kind.name, compartment))
            m = int(rng.poisson(rate * float(cfg.confounders) * area_mm2))
            x = rng.uniform(0.0, cfg.width, m)
            y = rng.uniform(0.0, cfg.height, m)
            u = rng.random(m)
            f = fields(layout, PointSampler(x, y))
            p = f.nest if compartment == "nest" else f.stroma * (1.0 - f.bleed)
            keep = u < p
            if len(sp):
                d2 = (x[:, None] - sp.x[None, :]) ** 2 + (y[:, None] - sp.y[None, :]) ** 2
                keep &= ~np.any(d2 < clearance**2, axis=1)
            idx = np.flatnonzero(keep)
            n = len(idx)
            fibre = np.where(f.fibre_mix[idx] > rng.random(n), layout.fibre_angles[1], layout.fibre_angles[0])
            nuc, cyto = _SHAPES[kind.name](rng, n, px, fibre + math.pi / 2)
            used = nuc.pop("used")
            has = cyto.pop("has")
            # Reach: every part's centre distance plus its radius; cytoplasm and halo included.
            nuc_reach = np.where(used, np.hypot(nuc["dx"], nuc["dy"]) + nuc["a"] * (1 + nuc["h2"] + nuc["h3"]), 0.0)
            cyto_reach = np.where(has, np.hypot(cyto["dx"], cyto["dy"]) + np.maximum(cyto["a"], cyto["halo"]), 0.0)
            extent = np.maximum(nuc_reach.max(axis=1, initial=0.0), cyto_reach) + 2.0
            objects.append(
                (x[idx], y[idx], np.full(n, kind_index), f.tumour[idx] >= 0.5, extent, used.sum(axis=1), has)
            )
            nuc["mask"] = np.full(used.shape, kind.nucleus)
            nuclei.append({k: v[used] for k, v in nuc.items()})
            cyto["x"] = x[idx] + cyto.pop("dx")
            cyto["y"] = y[idx] + cyto.pop("dy")
            cytos.append({k: v[has] for k, v in cyto.items()})
            # Nuclear parts in absolute coordinates.
            part_x = (x[idx][:, None] + nuc["dx"])[used]
            part_y = (y[idx][:, None] + nuc["dy"])[used]
            nuclei[-1]["x"] = part_x
            nuclei[-1]["y"] = part_y
    return _assemble(cfg, objects, nuclei, cytos)


def _seed(seed: int, kind: str, compartment: str) -> int:
    return derive_seed(seed, "confounders", kind, compartment)


def _assemble(
    cfg: SynthConfig,
    objects: list[tuple[np.ndarray, ...]],
    nuclei: list[dict[str, np.ndarray]],
    cytos: list[dict[str, np.ndarray]],
) -> Confounders:
    """One :class:`Confounders` from the per-kind pieces, objects sorted by the spatial index."""
    columns = max(int(math.ceil(cfg.width / _BUCKET)), 1)
    if not objects:
        objects = [(np.zeros(0),) * 3 + (np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0, dtype=int), np.zeros(0))]
    x, y, kind, in_t, extent, n_nuc, has = (np.concatenate([o[i] for o in objects]) for i in range(7))
    nuc_keys = ("x", "y", *_NUCLEUS_KEYS, "mask")
    nuc_all = {k: np.concatenate([p[k] for p in nuclei]) if nuclei else np.zeros(0) for k in nuc_keys}
    cyto_all = {k: np.concatenate([c[k] for c in cytos]) if cytos else np.zeros(0) for k in _CYTO_KEYS}
    nuc_all["mask"] = nuc_all["mask"].astype(bool)
    nuc_start = np.concatenate([[0], np.cumsum(n_nuc)]).astype(np.int64)
    has_i = has.astype(np.int64)
    cyto_start = np.concatenate([[0], np.cumsum(has_i)]).astype(np.int64)
    key = (np.floor(y / _BUCKET) * columns + np.floor(x / _BUCKET)).astype(np.int64)
    unsorted = Confounders(
        x,
        y,
        kind.astype(np.int64),
        in_t.astype(bool),
        extent,
        nuc_all,
        nuc_start,
        cyto_all,
        cyto_start,
        key,
        columns,
        float(extent.max(initial=0.0)),
    )
    return unsorted.select(np.argsort(key, kind="stable"))


# --------------------------------------------------------------------------- drawing


def _nucleus_params(c: Confounders, only_nuclei: bool = False) -> dict[str, np.ndarray]:
    keep = c.nuclei["mask"] if only_nuclei else slice(None)
    return {k: v[keep] for k, v in c.nuclei.items() if k != "mask"}


def draw_confounders(canvas: Canvas, c: Confounders) -> None:
    """Draw the confounders' cytoplasm (and halos), then their nuclear parts, onto ``canvas``."""
    if len(c) == 0:
        return
    _draw_cytoplasm(canvas, c.cyto)
    p = _nucleus_params(c)
    if len(p["x"]):
        draw_nuclei(canvas, p)


def _draw_cytoplasm(canvas: Canvas, cyto: dict[str, np.ndarray]) -> None:
    """Eosin ellipses (with a haematoxylin tint ``hb``) hiding the background, and clear halos around them."""
    if len(cyto["x"]) == 0:
        return
    d = canvas.d
    for origin, f, dx, dy, _, inside in ellipse_patches(canvas, cyto, np.maximum(cyto["a"], cyto["halo"])):
        r = np.sqrt(dx * dx + dy * dy)
        halo = np.where(f["halo"] > 0, np.clip((f["halo"] - r) / np.float32(max(d, 2.0)) + 0.5, 0.0, 1.0), 0.0)
        halo = halo * (1.0 - inside)
        canvas.add(origin, e_add=f["eo"] * inside, h_flat=f["hb"] * inside, cover=0.85 * inside + 0.55 * halo)


def mark_nuclei(mask: np.ndarray, c: Confounders, x: float, y: float) -> None:
    """OR into ``mask`` (the level-0 region at (x, y)) the confounders' nuclear parts, debris excepted:
    the pixels inside each drawn outline, as :func:`training.synth.drawing.draw_nuclei_mask` marks nuclei."""
    if len(c) == 0:
        return
    p = _nucleus_params(c, only_nuclei=True)
    if len(p["x"]) == 0:
        return
    grid = PatchGrid(x, y, mask.shape[1], mask.shape[0], 1.0)
    for idx, radius in buckets(nucleus_reach(p, grid.d), grid.d):
        q = {k: v[idx] for k, v in p.items()}
        dx, dy, origin = grid.patches(q["x"], q["y"], radius)
        f = {k: v.astype(np.float32)[:, None, None] for k, v in q.items() if k not in ("x", "y")}
        mark(mask, origin, nucleus_distance(dx, dy, f) <= 1.0)


# --------------------------------------------------------------------------- truth


def confounder_list(c: Confounders) -> list[dict[str, Any]]:
    """The confounders as truth-file entries: kind, centre (level-0 px), in tumour."""
    return [
        {
            "kind": CONFOUNDER_NAMES[int(k)],
            "x": round(float(x), 2),
            "y": round(float(y), 2),
            "in_tumour": bool(t),
        }
        for x, y, k, t in zip(c.x, c.y, c.kind, c.in_tumour, strict=True)
    ]


def confounder_counts(c: Confounders) -> dict[str, int]:
    """How many of each kind (every kind named, 0 included)."""
    return {name: int(np.sum(c.kind == i)) for i, name in enumerate(CONFOUNDER_NAMES)}
