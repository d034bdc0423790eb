from __future__ import annotations

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.synth.scanners import SCANNERS, get_scanner


def test_at_least_four_scanners_with_unit_positive_stain_vectors():
    assert len(SCANNERS) >= 4
    for name, s in SCANNERS.items():
        assert s.name == name
        m = s.matrix
        assert m.shape == (2, 3)
        assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
        assert (m > 0).all()
        assert all(200 <= v <= 255 for v in s.i0)


def test_scanners_differ_in_colour():
    matrices = [s.matrix for s in SCANNERS.values()]
    for i in range(len(matrices)):
        for j in range(i + 1, len(matrices)):
            assert np.abs(matrices[i] - matrices[j]).max() > 0.03


def test_unknown_scanner_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown scanner 'Z'"):
        get_scanner("Z")


def test_to_dict_records_matrix_and_background():
    d = get_scanner("A").to_dict()
    assert d["stain_matrix"]["haematoxylin"] == list(get_scanner("A").haematoxylin)
    assert len(d["i0"]) == 3
