"""SynthConfig.haemoglobin: red cells in cherry red (a third stain), everything else as before."""

from __future__ import annotations

import argparse
import json
import math
from functools import lru_cache

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from algorithm.errors import ConfigError
from algorithm.tissue.blood import blood_mask
from training.synth.cells import KINDS
from training.synth.command import DESCRIPTION, add_arguments, configs
from training.synth.config import SynthConfig
from training.synth.drawing import HAEMOGLOBIN, mean_cell
from training.synth.generate import generate_slide
from training.synth.layout import Fields, build_layout, fields, grid_for
from training.synth.render import (
    HAEMOGLOBIN_OD,
    HAEMOGLOBIN_PER_EOSIN,
    _gaussian_kernel,
    blur_sigma,
    concentrations_to_rgb,
    render_concentrations,
    render_region,
)
from training.synth.scanners import get_scanner

# Two bleeds (one of them half on glass) and two vessels on a small slide.
BLEEDING = SynthConfig(seed=7, width=1200, height=900, label="tumour", mitoses=3, imposters=3, scanner="A")
RED = BLEEDING.replace(haemoglobin=1.0)
LOW = 16  # a mean-field level (no cells drawn)


@lru_cache(maxsize=8)
def _slide(cfg: SynthConfig, d: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The whole slide at downsample ``d``: concentrations and RGB."""
    w, h = math.ceil(cfg.width / d), math.ceil(cfg.height / d)
    return render_concentrations(cfg, 0, 0, w, h, d), render_region(cfg, 0, 0, w, h, d)


def _fields(d: int = 1) -> Fields:
    layout = build_layout(BLEEDING)
    return fields(layout, grid_for(layout, d))


@pytest.mark.parametrize("value", [-0.1, 2.5, math.nan, True, "1"])
def test_haemoglobin_is_validated(value):
    with pytest.raises(ConfigError, match=r"haemoglobin must be a number in \[0, 2\]"):
        SynthConfig(haemoglobin=value)


def test_haemoglobin_is_content_and_recorded_only_when_above_zero():
    assert BLEEDING.haemoglobin == 0.0 and BLEEDING.content_key() != RED.content_key()
    assert "haemoglobin" not in BLEEDING.to_dict()  # the truth file of before the field
    assert RED.to_dict()["haemoglobin"] == 1.0
    assert SynthConfig.from_dict(BLEEDING.to_dict()) == BLEEDING and SynthConfig.from_dict(RED.to_dict()) == RED
    assert SynthConfig(haemoglobin=2).haemoglobin == 2  # integers are numbers too


def test_haemoglobin_is_a_third_concentration_and_h_and_e_stay():
    plain, _ = _slide(BLEEDING)
    red, _ = _slide(RED)
    assert plain.shape == (900, 1200, 2) and red.shape == (900, 1200, 3)
    assert np.array_equal(plain, red[..., :2])  # haematoxylin and eosin of every pixel
    hb = red[..., 2]
    assert hb.min() == 0.0 and hb.max() > 1.0
    # Only red cells hold it: in bleeds and lumens (and the cells at their rim, whose centres are inside).
    f = _fields()
    blood = binary_dilation(np.maximum(f.bleed, f.lumen) > 0, np.ones((3, 3), bool), iterations=20)
    assert (hb > 0).sum() > 20_000 and not (hb[~blood] > 0).any()
    # Twice the haemoglobin, twice the concentration; the rest stays.
    double = render_concentrations(RED.replace(haemoglobin=2.0), 300, 300, 200, 200)
    assert np.allclose(double[..., 2], 2.0 * red[300:500, 300:500, 2], rtol=1e-6)
    assert np.array_equal(double[..., :2], red[300:500, 300:500, :2])


def test_only_red_cells_change_colour():
    """Pixels out of the blur's reach of every red cell are the same bytes with or without haemoglobin."""
    conc, red = _slide(RED)
    _, plain = _slide(BLEEDING)
    r = len(_gaussian_kernel(blur_sigma(RED))) // 2
    near = binary_dilation(conc[..., 2] > 0, np.ones((2 * r + 1, 2 * r + 1), bool))
    assert np.array_equal(red[~near], plain[~near])
    changed = (red != plain).any(axis=-1)
    assert changed.sum() > 20_000 and not changed[~near].any()
    # The mean-field level too: where no red cells are expected, nothing changes.
    low_conc, low_red = _slide(RED, LOW)
    _, low_plain = _slide(BLEEDING, LOW)
    none = low_conc[..., 2] == 0
    assert none.mean() > 0.5 and np.array_equal(low_red[none], low_plain[none])


def test_dense_bleeds_and_vessel_lumens_turn_cherry_red():
    conc, red = _slide(RED)
    _, plain = _slide(BLEEDING)
    f = _fields()
    cells = conc[..., 2] > 0.5  # red-cell pixels (not their pale rims)
    dense = (f.bleed > 0.95) & cells
    lumen = (f.lumen > 0.95) & cells
    assert dense.sum() > 20_000 and lumen.sum() > 2_000
    r, g, b = np.median(red[dense], axis=0)
    assert r > 150 and g < 60 and b < 70 and r - max(g, b) > 100  # real H&E blood: about (190, 35, 45)
    r, g, b = np.median(plain[dense], axis=0)
    assert b > 100 and b - g > 25  # eosin only: magenta
    # Pixel by pixel the densest eosin-only cells pass the filter too (half of them), the red ones all but a few.
    assert blood_mask(red)[dense].mean() > 0.85 > 0.6 > blood_mask(plain)[dense].mean()
    assert blood_mask(red)[lumen].mean() > 0.95 > 0.75 > blood_mask(plain)[lumen].mean()
    # The whole dense bleed, gaps and all, as the blood filter sees it at 4 um/px (a mean-field level here).
    low_dense = _fields(LOW).bleed > 0.95
    assert low_dense.sum() > 100
    assert blood_mask(_slide(RED, LOW)[1])[low_dense].mean() > 0.95
    assert blood_mask(_slide(BLEEDING, LOW)[1])[low_dense].mean() < 0.05


def test_concentrations_to_rgb_colours_the_third_channel():
    conc, _ = _slide(RED)
    inner = conc[10:-10, 10:-10, 2]
    row, col = np.unravel_index(np.argmax(inner), inner.shape)
    patch = conc[row + 8 : row + 13, col + 8 : col + 13]  # around the densest red cell pixel
    assert patch[..., 2].max() > 1.0
    rgb = concentrations_to_rgb(patch, "A").astype(int)
    rgb_eosin_only = concentrations_to_rgb(patch[..., :2], "A").astype(int)
    scanner = get_scanner("A")
    od = patch[..., 2:3] * np.asarray(HAEMOGLOBIN_OD)  # the haemoglobin's own optical density
    expected = np.rint(np.asarray(scanner.i0) * np.exp(-od) * rgb_eosin_only / np.asarray(scanner.i0))
    assert np.abs(rgb - expected).max() <= 1
    assert abs(np.linalg.norm(HAEMOGLOBIN_OD) - 1.0) < 1e-3 and HAEMOGLOBIN_OD[0] < 0.1 < HAEMOGLOBIN_PER_EOSIN


def test_the_mean_field_carries_the_red_cells_haemoglobin():
    for kind in KINDS:
        m = mean_cell(kind.name, 0.25)
        if kind.name == "rbc":
            assert m[HAEMOGLOBIN] == m["e_add"] > 0  # haemoglobin goes with the red cell's eosin
        else:
            assert m[HAEMOGLOBIN] == 0.0


def _truth(result) -> dict:
    return json.loads(result.files.truth.read_text())


def test_slides_with_haemoglobin_are_deterministic_and_recorded(tmp_path):
    a = generate_slide(RED, tmp_path / "a")
    b = generate_slide(RED, tmp_path / "b")
    for fa, fb in zip(a.files.all(), b.files.all(), strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    plain = generate_slide(BLEEDING, tmp_path / "plain")
    assert a.files.slide.read_bytes() != plain.files.slide.read_bytes()
    for name in ("midog", "tumour_mask", "tissue_mask"):  # the same cells and regions
        assert getattr(a.files, name).read_bytes() == getattr(plain.files, name).read_bytes(), name
    truth = _truth(a)
    assert truth["config"]["haemoglobin"] == 1.0 and truth["haemoglobin_od"] == list(HAEMOGLOBIN_OD)
    assert "haemoglobin" not in _truth(plain)["config"] and "haemoglobin_od" not in _truth(plain)


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--out", "unused", *argv])


def test_command_line_haemoglobin(capsys):
    (default,) = configs(_args())
    assert default[0].haemoglobin == 0.0
    cfgs = [c for c, _, _ in configs(_args("--count", "2", "--haemoglobin", "1"))]
    assert [c.haemoglobin for c in cfgs] == [1.0, 1.0]
    for bad in ("x", "-1", "2.5"):
        with pytest.raises(SystemExit):
            _args("--haemoglobin", bad)
    assert "--haemoglobin" in capsys.readouterr().err
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert "cherry-red" in " ".join(p.format_help().split()) and "--haemoglobin 1" in DESCRIPTION
