from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from training.synth.cells import POSITIVE_NUCLEUS_SCALE, regular_cells
from training.synth.config import SynthConfig
from training.synth.confounders import confounders
from training.synth.drawing import draw_nuclei_mask, mean_cell
from training.synth.layout import build_layout, fields, grid_for, tumour_mask
from training.synth.render import cells_in_region, render_concentrations, render_region, render_region_with_nuclei
from training.synth.specials import specials

from .conftest import NORMAL, TUMOUR

POSITIVE = TUMOUR.replace(positive=True)


def test_cells_do_not_depend_on_the_region_asked_for():
    x, y, w, h = 900, 500, 600, 400
    whole = cells_in_region(TUMOUR, x, y, w, h)
    left = cells_in_region(TUMOUR, x, y, 250, h)
    right = cells_in_region(TUMOUR, x + 250, y, w - 250, h)
    for kind, centres in whole.items():
        joined = np.concatenate([left[kind], right[kind]])
        assert sorted(map(tuple, centres)) == sorted(map(tuple, joined)), kind


def test_tumour_nuclei_sit_in_the_tumour_and_nowhere_else():
    layout = build_layout(TUMOUR)
    tumour = tumour_mask(layout, 4)
    cells = cells_in_region(TUMOUR, 0, 0, TUMOUR.width, TUMOUR.height)
    t = cells["tumour"]
    assert len(t) > 60
    inside = tumour[(t[:, 1] // 4).astype(int), (t[:, 0] // 4).astype(int)]
    assert inside.mean() > 0.97
    assert len(cells_in_region(NORMAL, 0, 0, NORMAL.width, NORMAL.height)["tumour"]) == 0


def test_tumour_nuclei_are_denser_larger_and_darker():
    layout = build_layout(TUMOUR)
    f = fields(layout, grid_for(layout, 4))
    cells = regular_cells(layout, 0, 0, TUMOUR.width, TUMOUR.height, specials(TUMOUR))
    tumour, fibro, normal_epi = cells["tumour"], cells["fibroblast"], cells["gland"]
    area = lambda p: np.pi * p["a"] * p["b"]  # noqa: E731
    # Denser: tumour nuclei per nest area vs fibroblasts per stroma area.
    assert len(tumour["x"]) / f.nest.sum() > 3 * len(fibro["x"]) / f.stroma.sum()
    # Larger and darker than normal epithelium.
    assert area(tumour).mean() > 1.5 * area(normal_epi).mean()
    assert np.percentile(tumour["dark"], 90) > np.percentile(normal_epi["dark"], 90)


# ----------------------------------------------------------------------------- positive slides


def _region_in_tumour(cfg: SynthConfig, side: int = 768) -> tuple[int, int, int, int]:
    t = build_layout(cfg).tumour
    assert t is not None
    return int(t.cx) - side // 2, int(t.cy) - side // 2, side, side


def _cells(cfg: SynthConfig, x: int, y: int, w: int, h: int) -> dict[str, dict[str, np.ndarray]]:
    return regular_cells(build_layout(cfg), x, y, x + w, y + h, specials(cfg), confounders(cfg))


def test_positive_slides_change_the_tumour_nuclei_only():
    x, y, w, h = _region_in_tumour(TUMOUR)
    neg, pos = _cells(TUMOUR, x, y, w, h), _cells(POSITIVE, x, y, w, h)
    for kind in neg:
        if kind != "tumour":
            assert neg[kind].keys() == pos[kind].keys()
            assert all(np.array_equal(neg[kind][k], pos[kind][k]) for k in neg[kind]), kind
    t_neg, t_pos = neg["tumour"], pos["tumour"]
    assert len(t_neg["x"]) > 50
    # The same cells (same uniforms), other nuclei.
    for k in ("x", "y", "angle", "h2", "h3"):
        assert np.array_equal(t_neg[k], t_pos[k]), k
    assert np.allclose(t_pos["a"] / t_neg["a"], POSITIVE_NUCLEUS_SCALE)
    assert np.allclose(t_pos["b"] / t_neg["b"], POSITIVE_NUCLEUS_SCALE)
    hyper_neg, hyper_pos = t_neg["pale"] < 0.2, t_pos["pale"] < 0.2
    assert not (hyper_neg & ~hyper_pos).any() and hyper_pos.mean() > hyper_neg.mean() + 0.1
    assert (t_pos["nuc"] > 0).mean() > (t_neg["nuc"] > 0).mean() and (t_pos["tex"] > t_neg["tex"]).all()
    # The nuclei truth follows: tumour nucleus area x scale^2 (1.39), less where neighbours now overlap.
    tumour_neg = draw_nuclei_mask({"tumour": t_neg}, None, x, y, w, h)
    tumour_pos = draw_nuclei_mask({"tumour": t_pos}, None, x, y, w, h)
    assert 1.25 < tumour_pos.sum() / tumour_neg.sum() < POSITIVE_NUCLEUS_SCALE**2 + 0.02
    # Rendered: only pixels at (either slide's) tumour nuclei change, in the mask and in the stains alike.
    mask_neg, mask_pos = (
        render_region_with_nuclei(TUMOUR, x, y, w, h)[1],
        render_region_with_nuclei(POSITIVE, x, y, w, h)[1],
    )
    conc_neg, conc_pos = render_concentrations(TUMOUR, x, y, w, h), render_concentrations(POSITIVE, x, y, w, h)
    tumour_nuclei = tumour_neg | tumour_pos
    assert not ((mask_neg != mask_pos) & ~tumour_nuclei).any()
    changed = np.any(conc_neg != conc_pos, axis=-1)
    assert changed.any() and not (changed & ~binary_dilation(tumour_nuclei, iterations=2)).any()


def test_positive_slides_are_seamless_with_their_larger_nuclei():
    x, y, _, _ = _region_in_tumour(POSITIVE)
    whole = render_region(POSITIVE, x, y, 300, 200)
    left, right = render_region(POSITIVE, x, y, 137, 200), render_region(POSITIVE, x + 137, y, 163, 200)
    assert np.array_equal(whole, np.concatenate([left, right], axis=1))


def test_positive_mean_field_follows_the_tumour_nuclei():
    """Low-resolution levels (mean field) show the change as level 0 does, on average over the nests."""
    neg, pos = mean_cell("tumour", TUMOUR.mpp), mean_cell("tumour", TUMOUR.mpp, True)
    assert pos["cover"] / neg["cover"] == pytest.approx(POSITIVE_NUCLEUS_SCALE**2, rel=0.05)
    assert pos["h_tex"] + pos["h_flat"] > 1.4 * (neg["h_tex"] + neg["h_flat"])
    d = 16
    x, y, w, h = _region_in_tumour(TUMOUR, 48 * d)
    x, y = x // d * d, y // d * d
    f = fields(build_layout(TUMOUR), grid_for(build_layout(TUMOUR), d))
    nest = f.nest[y // d : y // d + 48, x // d : x // d + 48] > 0.8
    assert nest.sum() > 100

    def haematoxylin(cfg: SynthConfig) -> tuple[float, float]:
        level0 = render_concentrations(cfg, x, y, w, h)[..., 0].reshape(48, d, 48, d).mean(axis=(1, 3))
        low = render_concentrations(cfg, x, y, 48, 48, d)[..., 0]
        return float(level0[nest].mean()), float(low[nest].mean())

    (full_neg, low_neg), (full_pos, low_pos) = haematoxylin(TUMOUR), haematoxylin(POSITIVE)
    assert full_pos / full_neg > 1.15
    assert low_pos / low_neg == pytest.approx(full_pos / full_neg, rel=0.08)
