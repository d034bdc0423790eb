"""Confounders (training/synth/confounders.py) and mitotic density per mm^2."""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.synth.command import add_arguments, configs
from training.synth.config import SynthConfig
from training.synth.confounders import CONFOUNDER_KINDS, CONFOUNDER_NAMES, confounders, mark_nuclei
from training.synth.generate import generate_slide
from training.synth.layout import PointSampler, build_layout, fields, grid_for, tissue_area_mm2
from training.synth.render import cells_in_region, render_concentrations, render_region, render_region_with_nuclei
from training.synth.specials import MITOSIS, specials

from .conftest import NORMAL, TUMOUR, recorded_for_this_machine

# A slide with tumour nests and confounders at 20x their density: enough of every kind to count.
DENSE = SynthConfig(seed=9, width=4096, height=3072, label="tumour", mitoses=4, imposters=4, confounders=20.0)


def _digest(cfg: SynthConfig) -> str:
    h = hashlib.sha256()
    for x, y, w, hh, d in ((700, 400, 768, 512, 1.0), (0, 0, 640, 384, 4.0)):
        h.update(render_region(cfg, x, y, w, hh, d).tobytes())
    sp = specials(cfg)
    h.update(np.round(sp.x, 3).tobytes())
    h.update(np.round(sp.y, 3).tobytes())
    return h.hexdigest()


# Digests of these regions and specials (TUMOUR, NORMAL) made by the kit before confounders existed (4216913),
# per numpy SIMD level (conftest.simd_level): avx512 when confounders came, avx2 on 2026-11-27 (an AMD EPYC).
BEFORE_CONFOUNDERS = {
    "avx512": (
        "2da0d2d23a8f4a4e36df033879f6588a0560e74159d6aa6816ac7c8205b897bb",
        "67e14b8d3b3bef063e39064b3af1454fa8882abfcc9d65b29483122a3b140f75",
    ),
    "avx2": (
        "4bb24b545b27ae73b1eb357edbb3f25ff874a8d6060bcd84d06fe79bfc828da3",
        "67e14b8d3b3bef063e39064b3af1454fa8882abfcc9d65b29483122a3b140f75",
    ),
}


def test_no_confounders_is_the_slide_of_before():
    tumour, normal = recorded_for_this_machine(BEFORE_CONFOUNDERS)
    assert _digest(TUMOUR.replace(confounders=0)) == tumour
    assert _digest(NORMAL.replace(confounders=0)) == normal
    assert len(confounders(TUMOUR.replace(confounders=0))) == 0


def _compartment_areas_mm2(cfg: SynthConfig) -> dict[str, float]:
    """Expected-count weights: the integral of each compartment's placement field (mm^2)."""
    layout = build_layout(cfg)
    f = fields(layout, grid_for(layout, 8))
    px_mm2 = (8 * cfg.mpp / 1000.0) ** 2
    return {"nest": float(f.nest.sum()) * px_mm2, "stroma": float((f.stroma * (1 - f.bleed)).sum()) * px_mm2}


def test_each_kind_appears_at_its_density():
    cf = confounders(DENSE)
    areas = _compartment_areas_mm2(DENSE)
    assert areas["nest"] > 0.05 and areas["stroma"] > 0.2
    for i, kind in enumerate(CONFOUNDER_KINDS):
        expected = sum(rate * DENSE.confounders * areas[c] for c, rate in kind.rates)
        got = int(np.sum(cf.kind == i))
        # Poisson noise (4 sigma) plus a little for the clearance around mitoses and imposters.
        assert abs(got - expected) < 4 * np.sqrt(expected) + 0.03 * expected, (kind.name, got, expected)
        assert got > 10, kind.name


def test_kinds_sit_in_their_compartment():
    cf = confounders(DENSE)
    layout = build_layout(DENSE)
    for i, kind in enumerate(CONFOUNDER_KINDS):
        sel = cf.kind == i
        f = fields(layout, PointSampler(cf.x[sel], cf.y[sel]))
        compartments = {c for c, _ in kind.rates}
        where = np.zeros(int(sel.sum()), dtype=bool)
        if "nest" in compartments:
            where |= f.nest > 0
        if "stroma" in compartments:
            where |= f.stroma > 0
        assert where.all(), kind.name
        assert np.array_equal(cf.in_tumour[sel], f.tumour >= 0.5)


def test_density_scales_with_the_multiplier():
    one = confounders(DENSE.replace(confounders=1.0))
    assert 0.03 < len(one) / len(confounders(DENSE)) < 0.07


def test_confounders_keep_clear_of_mitoses_and_imposters():
    cf = confounders(DENSE)
    sp = specials(DENSE)
    d = np.hypot(cf.x[:, None] - sp.x[None, :], cf.y[:, None] - sp.y[None, :])
    assert d.min() >= 12.0 / DENSE.mpp


def _centre_h(cfg: SynthConfig, x: float, y: float, r: int) -> tuple[float, float]:
    """Mean haematoxylin within r px of (x, y) and in the ring 3r..4r around it."""
    half = 4 * r + 2
    h = render_concentrations(cfg, int(x) - half, int(y) - half, 2 * half, 2 * half)[..., 0]
    yy, xx = np.mgrid[: 2 * half, : 2 * half] + 0.5
    rr = np.hypot(xx - (x - int(x) + half), yy - (y - int(y) + half))
    return float(h[rr <= r].mean()), float(h[(rr >= 3 * r) & (rr <= 4 * r)].mean())


@pytest.mark.parametrize(
    "name, dark, darker", [("pyknotic", 1.5, 2.0), ("hyperchromatic", 1.2, 1.5), ("spindle", 1.2, 1.5)]
)
def test_dark_kinds_are_drawn_where_the_truth_says(name, dark, darker):
    cf = confounders(DENSE)
    idx = np.flatnonzero(cf.kind == CONFOUNDER_NAMES.index(name))[:25]
    ratios = []
    for i in idx:
        centre, ring = _centre_h(DENSE, cf.x[i], cf.y[i], 4)
        ratios.append(centre / max(ring, 1e-3))
        assert centre > dark, (name, i, centre)
    assert np.median(ratios) > darker


def test_apoptotic_bodies_and_plasma_cells_show_their_cytoplasm():
    cf = confounders(DENSE)
    for name in ("apoptotic", "plasma"):
        idx = np.flatnonzero(cf.kind == CONFOUNDER_NAMES.index(name))[:15]
        eosin = [render_concentrations(DENSE, int(cf.x[i]) - 3, int(cf.y[i]) - 3, 6, 6)[..., 1].mean() for i in idx]
        assert np.median(eosin) > 0.3, name


def test_nuclei_mask_holds_the_confounders_nuclei_but_not_debris():
    cf = confounders(DENSE)
    for name in ("pyknotic", "apoptotic", "lymph_cluster", "tangential", "plasma", "debris"):
        for i in np.flatnonzero(cf.kind == CONFOUNDER_NAMES.index(name))[:4]:
            x0, y0 = int(cf.x[i]) - 32, int(cf.y[i]) - 32
            mask = render_region_with_nuclei(DENSE, x0, y0, 64, 64)[1]
            alone = np.zeros((64, 64), dtype=bool)
            mark_nuclei(alone, cf.select(np.array([i])), x0, y0)
            if name == "debris":
                assert not alone.any()  # fragments, not nuclei
                continue
            n = cf.select(np.array([i])).nuclei
            px, py = (n["x"] - x0).astype(int), (n["y"] - y0).astype(int)
            ok = (px >= 0) & (px < 64) & (py >= 0) & (py < 64)
            assert alone[py[ok], px[ok]].all(), name  # every nuclear part's centre
            assert not (alone & ~mask).any(), name  # and the slide's mask holds them


def test_regular_cells_make_room_for_confounders():
    cf = confounders(DENSE)
    i = int(np.flatnonzero(cf.kind == CONFOUNDER_NAMES.index("tangential"))[0])
    x, y = cf.x[i], cf.y[i]
    with_cf = cells_in_region(DENSE, x - 100, y - 100, 200, 200)
    without = cells_in_region(DENSE.replace(confounders=0), x - 100, y - 100, 200, 200)
    n_with = sum(len(v) for v in with_cf.values())
    n_without = sum(len(v) for v in without.values())
    assert n_with < n_without
    for centres in with_cf.values():
        if len(centres):
            assert np.hypot(centres[:, 0] - x, centres[:, 1] - y).min() > 2.0 / DENSE.mpp


def test_near_finds_what_a_tile_needs():
    cf = confounders(DENSE)
    x0, y0, x1, y1 = 1000, 700, 1512, 1212
    near = cf.near(x0, y0, x1, y1)
    e = cf.extent
    brute = (cf.x + e > x0) & (cf.x - e < x1) & (cf.y + e > y0) & (cf.y - e < y1)
    assert sorted(zip(near.x, near.y, strict=True)) == sorted(zip(cf.x[brute], cf.y[brute], strict=True))
    assert len(near.nuclei["x"]) == near.nuclei_start[-1] >= len(near)


@pytest.mark.parametrize("size, expected", [((4096, 3072), 4), ((8192, 6144), 15)])
def test_mitoses_per_mm2_follow_the_tissue_area(size, expected):
    cfg = SynthConfig(
        seed=7, width=size[0], height=size[1], label="tumour", mitoses=1, imposters=2, mitoses_per_mm2=10.0
    )
    area = tissue_area_mm2(build_layout(cfg))
    n = int(np.sum(specials(cfg).category == MITOSIS))
    assert n == round(10.0 * area) == expected
    # Unset: the fixed count, as before.
    assert int(np.sum(specials(cfg.replace(mitoses_per_mm2=None)).category == MITOSIS)) == 1


def test_new_fields_are_validated_and_keyed():
    with pytest.raises(ConfigError, match="confounders"):
        SynthConfig(confounders=-1.0)
    with pytest.raises(ConfigError, match="mitoses_per_mm2"):
        SynthConfig(mitoses_per_mm2=-2.0)
    a = SynthConfig(seed=1)
    assert a.content_key() != a.replace(confounders=2.0).content_key()
    assert a.content_key() != a.replace(mitoses_per_mm2=5.0).content_key()
    assert SynthConfig.from_dict(a.replace(mitoses_per_mm2=5.0).to_dict()) == a.replace(mitoses_per_mm2=5.0)


def test_truth_lists_every_confounder_and_the_same_seed_gives_the_same_bytes(tmp_path):
    cfg = SynthConfig(seed=31, width=1536, height=1024, mitoses=2, imposters=2, scanner="B", confounders=8.0)
    a = generate_slide(cfg, tmp_path / "a", nuclei_mask=True)
    b = generate_slide(cfg, tmp_path / "b", nuclei_mask=True)
    for fa, fb in zip(a.files.all(), b.files.all(), strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    truth = json.loads(a.files.truth.read_text())
    cf = confounders(cfg)
    assert len(truth["confounders"]) == len(cf) > 0
    assert sum(truth["counts"]["confounders"].values()) == len(cf)
    assert set(truth["counts"]["confounders"]) == set(CONFOUNDER_NAMES)
    first = truth["confounders"][0]
    assert set(first) == {"kind", "x", "y", "in_tumour"} and first["kind"] in CONFOUNDER_NAMES
    assert truth["config"]["confounders"] == 8.0
    # The MIDOG file keeps mitoses and imposters only.
    midog = json.loads(a.files.midog.read_text())
    assert len(midog["annotations"]) == 4
    c = generate_slide(cfg.replace(seed=32), tmp_path / "c")
    assert c.files.slide.read_bytes() != a.files.slide.read_bytes()
    assert json.loads(c.files.truth.read_text())["confounders"] != truth["confounders"]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(["--out", "unused", *argv])


def test_command_line_density_and_confounders():
    cfgs = [c for c, _, _ in configs(_args("--count", "3", "--mitoses-per-mm2", "2:8", "--confounders", "0.5"))]
    densities = [c.mitoses_per_mm2 for c in cfgs]
    assert all(d is not None and 2 <= d <= 8 for d in densities) and len(set(densities)) == 3
    assert densities == [c.mitoses_per_mm2 for c, _, _ in configs(_args("--count", "3", "--mitoses-per-mm2", "2:8"))]
    assert {c.confounders for c in cfgs} == {0.5}
    (fixed,) = configs(_args("--mitoses-per-mm2", "5"))
    assert fixed[0].mitoses_per_mm2 == 5.0
    (default,) = configs(_args())
    assert default[0].mitoses_per_mm2 is None and default[0].confounders == 1.0
    for bad in ("x", "8:2", "-1", "1:2:3"):
        with pytest.raises(SystemExit):
            _args("--mitoses-per-mm2", bad)
