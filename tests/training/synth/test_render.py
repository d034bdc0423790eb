from __future__ import annotations

import numpy as np
import pytest

from training.synth.layout import build_layout
from training.synth.render import concentrations_to_rgb, render_concentrations, render_region
from training.synth.scanners import get_scanner
from training.synth.specials import specials

from .conftest import NORMAL, TUMOUR


def _tumour_centre():
    t = build_layout(TUMOUR).tumour
    assert t is not None
    return int(t.cx), int(t.cy)


def test_shapes_types_and_determinism():
    x, y = _tumour_centre()
    rgb = render_region(TUMOUR, x, y, 130, 70)
    conc = render_concentrations(TUMOUR, x, y, 130, 70)
    assert rgb.shape == (70, 130, 3) and rgb.dtype == np.uint8
    assert conc.shape == (70, 130, 2) and conc.dtype == np.float32
    assert np.array_equal(rgb, render_region(TUMOUR, x, y, 130, 70))


@pytest.mark.parametrize("downsample", [1.0, 4.0, 16.0])
def test_tiles_are_seamless(downsample):
    """A region equals the mosaic of its parts, whatever the order they are rendered in."""
    x, y = _tumour_centre()
    x -= int(150 * downsample)
    y -= int(100 * downsample)
    whole = render_region(TUMOUR, x, y, 300, 200, downsample).astype(int)
    d = downsample
    parts = [
        render_region(TUMOUR, x + 170 * d, y + 90 * d, 130, 110, d),
        render_region(TUMOUR, x, y, 170, 90, d),
        render_region(TUMOUR, x + 170 * d, y, 130, 90, d),
        render_region(TUMOUR, x, y + 90 * d, 170, 110, d),
    ]
    top = np.concatenate([parts[1], parts[2]], axis=1)
    bottom = np.concatenate([parts[3], parts[0]], axis=1)
    mosaic = np.concatenate([top, bottom], axis=0).astype(int)
    assert np.abs(whole - mosaic).max() <= 1
    assert np.mean(whole != mosaic) < 0.001


def test_scanner_changes_colours_not_concentrations():
    x, y = _tumour_centre()
    a, b = TUMOUR.replace(scanner="A"), TUMOUR.replace(scanner="B")
    assert np.array_equal(render_concentrations(a, x, y, 200, 150), render_concentrations(b, x, y, 200, 150))
    ra, rb = render_region(a, x, y, 200, 150).astype(int), render_region(b, x, y, 200, 150).astype(int)
    assert np.abs(ra - rb).mean() > 5


def test_beer_lambert():
    scanner = get_scanner("A")
    conc = np.array([[[0.0, 0.0], [1.0, 0.0], [0.5, 0.7]]], dtype=np.float32)
    rgb = concentrations_to_rgb(conc, scanner)
    expected = np.asarray(scanner.i0) * np.exp(-(conc[0] * scanner.stain_gain) @ scanner.matrix)
    assert np.abs(rgb[0].astype(float) - expected).max() <= 0.5 + 1e-6
    assert tuple(rgb[0, 0]) == tuple(int(round(v)) for v in scanner.i0)


def test_background_is_glass_white():
    rgb = render_region(NORMAL, 0, 0, 64, 64)
    i0 = np.round(get_scanner(NORMAL.scanner).i0)
    assert np.abs(rgb.astype(float) - i0).max() <= 1


def test_he_colours():
    """Pink stroma, purple nuclei, red blood: channel orderings of real H&E."""
    layout = build_layout(TUMOUR)
    x, y = _tumour_centre()
    conc = render_concentrations(TUMOUR, x - 300, y - 300, 600, 600)
    rgb = render_region(TUMOUR, x - 300, y - 300, 600, 600).astype(int)
    h, e = conc[..., 0], conc[..., 1]
    nuclei = rgb[h > 1.2]
    stroma = rgb[(e > 0.3) & (h < 0.1)]
    assert len(nuclei) > 500 and len(stroma) > 500
    r, g, b = nuclei.mean(axis=0)
    assert b > r > g and r < 170  # purple-blue and dark
    r, g, b = stroma.mean(axis=0)
    assert r > b > g and r > 200  # pink
    v = layout.vessels[0]
    blood = render_concentrations(TUMOUR, int(v.cx) - 40, int(v.cy) - 40, 80, 80)
    rgb_blood = render_region(TUMOUR, int(v.cx) - 40, int(v.cy) - 40, 80, 80).astype(int)
    red = rgb_blood[blood[..., 1] > 1.0]
    assert len(red) > 50
    r, g, b = red.mean(axis=0)
    assert r > b > g and r - g > 80  # red


def test_lower_levels_look_like_averaged_level_zero():
    x, y = _tumour_centre()
    x, y = x - 512, y - 512
    full = render_region(TUMOUR, x, y, 1024, 1024).astype(float)
    small = render_region(TUMOUR, x, y, 256, 256, 4.0).astype(float)
    averaged = full.reshape(256, 4, 256, 4, 3).mean(axis=(1, 3))
    assert np.abs(small - averaged).mean() < 12
    thumb = render_region(TUMOUR, x, y, 64, 64, 16.0).astype(float)  # mean-field cells
    assert np.abs(thumb.mean(axis=(0, 1)) - full.mean(axis=(0, 1))).max() < 15


def test_mitoses_are_haematoxylin_dark():
    sp = specials(TUMOUR)
    for i in range(len(sp)):
        h = render_concentrations(TUMOUR, int(sp.x[i]) - 8, int(sp.y[i]) - 8, 16, 16)[..., 0]
        assert h.max() > 1.5
