from __future__ import annotations

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.synth.scanners import SAMPLED_RANGES, SCANNERS, get_scanner, is_scanner, sampled_scanner


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


def test_sampled_scanner_is_a_function_of_its_name():
    assert get_scanner("S17") == get_scanner("S17") == sampled_scanner(17)
    assert get_scanner("S17") != get_scanner("S18")
    assert get_scanner("S17").name == "S17"


def test_sampled_scanners_stay_in_their_ranges_and_spread_across_them():
    scanners = [sampled_scanner(i) for i in range(200)]
    for s in scanners:
        assert np.allclose(np.linalg.norm(s.matrix, axis=1), 1.0)
        assert (s.matrix > 0).all()
        assert all(SAMPLED_RANGES["i0"][0] <= v <= SAMPLED_RANGES["i0"][1] for v in s.i0)
        assert SAMPLED_RANGES["gain_h"][0] <= s.stain_gain[0] <= SAMPLED_RANGES["gain_h"][1]
        assert SAMPLED_RANGES["gain_e"][0] <= s.stain_gain[1] <= SAMPLED_RANGES["gain_e"][1]
        assert SAMPLED_RANGES["blur_um"][0] <= s.blur_um <= SAMPLED_RANGES["blur_um"][1]
        assert SAMPLED_RANGES["jpeg_quality"][0] <= s.jpeg_quality <= SAMPLED_RANGES["jpeg_quality"][1]
        # haematoxylin stays bluer-purple than eosin: more red absorbed, less green
        assert s.haematoxylin[0] > s.eosin[0] and s.haematoxylin[1] < s.eosin[1]
    blurs = [s.blur_um for s in scanners]
    assert min(blurs) < 0.1 and max(blurs) > 0.4
    qualities = {s.jpeg_quality for s in scanners}
    assert min(qualities) <= 77 and max(qualities) >= 93


@pytest.mark.parametrize("name", ["S", "S-1", "S01", "s3", "S1x", "SS2"])
def test_malformed_sampled_names_are_config_errors(name):
    assert not is_scanner(name)
    with pytest.raises(ConfigError, match="S<n>"):
        get_scanner(name)
