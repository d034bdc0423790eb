from __future__ import annotations

from training.synth.drawing import mean_cell


def test_mean_cell_masses_are_positive():
    for kind in ("tumour", "lymphocyte", "fibroblast"):
        m = mean_cell(kind, 0.25)
        assert m["h_tex"] + m["h_flat"] > 0 and m["cover"] > 0
    assert mean_cell("rbc", 0.25)["e_add"] > 0
