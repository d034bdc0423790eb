from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label, regionprops

from algorithm.errors import ConfigError
from training.synth.config import SynthConfig
from training.synth.layout import build_layout, tissue_mask, tumour_mask
from training.synth.render import render_concentrations
from training.synth.specials import IMPOSTER, MITOSIS, specials

from .conftest import NORMAL, TUMOUR


def test_specials_are_counted_exactly_spaced_and_mostly_in_tumour():
    sp = specials(TUMOUR)
    assert (sp.category == MITOSIS).sum() == TUMOUR.mitoses
    assert (sp.category == IMPOSTER).sum() == TUMOUR.imposters
    assert sp.in_tumour[sp.category == MITOSIS].sum() >= round(0.85 * TUMOUR.mitoses) - 1
    d = np.hypot(sp.x[:, None] - sp.x[None, :], sp.y[:, None] - sp.y[None, :]) + np.eye(len(sp)) * 1e9
    assert d.min() >= 20.0 / TUMOUR.mpp
    layout = build_layout(TUMOUR)
    tissue = tissue_mask(layout, 4)
    tumour = tumour_mask(layout, 4)
    r, c = (sp.y // 4).astype(int), (sp.x // 4).astype(int)
    assert tissue[r, c].all()
    assert np.array_equal(tumour[r, c], sp.in_tumour)


def test_normal_slides_place_specials_outside_any_tumour():
    sp = specials(NORMAL)
    assert len(sp) == NORMAL.mitoses + NORMAL.imposters
    assert not sp.in_tumour.any()


def test_impossible_counts_are_a_config_error():
    with pytest.raises(ConfigError, match="cannot place 50 mitoses"):
        specials(SynthConfig(seed=1, width=512, height=512, mitoses=50))


def _dark_shapes(cfg, sp, category):
    """Circularity (4 pi A / P^2) and mean H of the dark object at each special of a category."""
    out = []
    half = 40
    for i in np.flatnonzero(sp.category == category):
        x, y = int(sp.x[i]) - half, int(sp.y[i]) - half
        h = render_concentrations(cfg, x, y, 2 * half, 2 * half)[..., 0]
        lab = label(h > 1.2)
        if lab.max() == 0:
            continue
        centre = lab[half - 6 : half + 6, half - 6 : half + 6]
        ids = np.unique(centre[centre > 0])
        region = max((r for r in regionprops(lab) if r.label in ids), key=lambda r: r.area)
        out.append((4 * np.pi * region.area / max(region.perimeter, 1) ** 2, h[lab == region.label].mean()))
    return np.array(out)


def test_mitoses_are_irregular_and_imposters_round():
    cfg = TUMOUR
    sp = specials(cfg)
    mit = _dark_shapes(cfg, sp, MITOSIS)
    imp = _dark_shapes(cfg, sp, IMPOSTER)
    assert len(mit) >= 10 and len(imp) >= 10
    assert np.median(imp[:, 0]) > 0.8  # discs
    assert np.median(mit[:, 0]) < np.median(imp[:, 0]) - 0.15  # clumps, bars, pairs
    assert mit[:, 1].mean() > 1.8 and imp[:, 1].mean() > 1.8  # both dark
