"""Background stain of tissue compartments: collagen fibres, cytoplasm, plasma.

Returns haematoxylin and eosin concentrations of everything that is not a
cell: wavy eosinophilic collagen fibres in stroma (two fibre families, blended
by a slowly varying weight), finely mottled cytoplasm in tumour nests and
glands, dense vessel walls, pale plasma in vessel lumina and bleeds. Fibres
finer than the output pixel fade to their mean (anti-aliasing).
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.layout import Fields, GridSampler, Layout
from training.synth.noise import derive_seed

_FIBRE_MEAN = 3.0 / 8.0  # mean of ((1 + sin) / 2) ** 2


def _fibres(layout: Layout, s: GridSampler, f: Fields) -> np.ndarray:
    period = layout.px(6.0)
    aa = float(np.clip(period / s.d / 2.0 - 1.0, 0.0, 1.0))
    if aa == 0.0:
        return np.full(s.shape, _FIBRE_MEAN, dtype=np.float32)
    warp = s.fbm(derive_seed(layout.seed, "fibre-warp"), layout.px(90.0), 3) * np.float32(30.0)
    k = 2.0 * math.pi / period
    out: np.ndarray | None = None
    for angle, weight in zip(layout.fibre_angles, (1.0 - f.fibre_mix, f.fibre_mix), strict=True):
        a = np.mod(s.xs * (k * math.cos(angle)), 2.0 * math.pi).astype(np.float32)
        b = np.mod(s.ys * (k * math.sin(angle)), 2.0 * math.pi).astype(np.float32)
        wave = np.sin(warp + a[None, :] + b[:, None])
        wave += 1.0
        wave *= 0.5
        fam = wave * wave * weight
        out = fam if out is None else out + fam
    assert out is not None  # two fibre families, always
    if aa < 1.0:
        out = aa * out + np.float32((1.0 - aa) * _FIBRE_MEAN)
    return out


def base_concentrations(layout: Layout, s: GridSampler, f: Fields) -> tuple[np.ndarray, np.ndarray]:
    """(H, E) float32 concentrations of the extracellular background."""
    seed = layout.seed
    mottle = np.float32(0.5) * (
        s.fbm(derive_seed(seed, "mottle"), layout.px(2.6), 1) + s.fbm(derive_seed(seed, "mottle-2"), layout.px(3.9), 1)
    ) - np.float32(0.5)
    stroma = f.stroma
    h = np.zeros(s.shape, dtype=np.float32)
    e = np.zeros(s.shape, dtype=np.float32)
    if np.any(stroma > 0) or np.any(f.wall > 0):
        fibre = _fibres(layout, s, f)
        breaks = np.clip(
            (s.fbm(derive_seed(seed, "fibre-breaks"), layout.px(16.0), 2) - np.float32(0.42)) * np.float32(4.0),
            0.0,
            1.0,
        )
        density = np.float32(0.55) + np.float32(0.9) * (
            s.fbm(derive_seed(seed, "stroma-density"), layout.px(250.0), 2) - np.float32(0.3)
        )
        e_str = density * (np.float32(0.22) + np.float32(0.5) * fibre * breaks) + np.float32(0.2) * mottle
        e += stroma * e_str + f.wall * (np.float32(0.55) + np.float32(0.35) * fibre + np.float32(0.1) * mottle)
        h += (stroma + f.wall) * np.float32(0.035)
    if np.any(f.nest > 0):
        e += f.nest * (np.float32(0.27) + np.float32(0.25) * mottle)
        h += f.nest * (np.float32(0.2) + np.float32(0.1) * mottle)
    if np.any(f.gland > 0):
        e += f.gland * (np.float32(0.34) + np.float32(0.2) * mottle)
        h += f.gland * np.float32(0.06)
    if np.any(f.lumen > 0) or np.any(f.bleed > 0):
        plasma = np.float32(0.1) + np.float32(0.2) * mottle
        e += f.lumen * plasma + f.bleed * (np.float32(1.0) - f.tissue) * np.float32(0.5) * plasma
    np.maximum(e, 0.0, out=e)
    np.maximum(h, 0.0, out=h)
    return h, e
