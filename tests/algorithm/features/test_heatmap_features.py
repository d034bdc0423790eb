from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import ellipse

from algorithm.errors import ConfigError
from algorithm.features.axis import major_axis
from algorithm.features.heatmap_features import (
    FeatureConfig,
    axis_feature_name,
    heatmap_axis,
    heatmap_features,
    parse_axis_feature,
)
from algorithm.segmentation.heatmap import Heatmap

SMALL = FeatureConfig(scales=(1, 4), thresholds=(0.5, 0.9), quantiles=(0.5, 0.9), histogram_bins=4)


def _rectangle_heatmap(value: float = 1.0) -> Heatmap:
    """Tissue 48 x 80 px; tumour 16 x 32 px of ``value`` inside it, both on the 2 x 2 block grid."""
    probability = np.zeros((64, 96), np.float32)
    tissue = np.zeros((64, 96), bool)
    tissue[8:56, 8:88] = True
    probability[16:32, 16:48] = value
    return Heatmap(probability, tissue, downsample=8.0, mpp=2.0)


def _ellipse_heatmap(radii: tuple[int, int] = (12, 40), degrees: float = 20.0) -> Heatmap:
    probability = np.zeros((128, 160), np.float32)
    rr, cc = ellipse(64, 80, radii[0], radii[1], shape=probability.shape, rotation=math.radians(degrees))
    probability[rr, cc] = 1.0
    tissue = np.zeros(probability.shape, bool)
    tissue[4:124, 4:156] = True
    return Heatmap(probability, tissue, downsample=8.0, mpp=2.0)


def _rectangle_axis(length: int) -> float:
    """regionprops' major axis of a filled rectangle ``length`` pixels long: 4 sqrt(discrete variance)."""
    return 4 * math.sqrt((length**2 - 1) / 12)


def test_names_are_the_feature_keys_in_order() -> None:
    for config in (FeatureConfig(), SMALL):
        assert list(heatmap_features(_rectangle_heatmap(), config)) == config.names()
    names = FeatureConfig().names()
    assert len(names) == len(set(names))
    assert names[:2] == ["s4_t0.2_major_axis_um", "s4_t0.2_tumour_ratio"]
    assert names[-1] == "tissue_mm2"


def test_rectangle_features_by_hand() -> None:
    f = heatmap_features(_rectangle_heatmap(), SMALL)
    ratio = (16 * 32) / (48 * 80)
    for k in (1, 4):
        for t in (0.5, 0.9):
            assert f[f"s{k}_t{t:g}_tumour_ratio"] == pytest.approx(ratio)
        assert f[f"s{k}_max"] == 1.0
        assert f[f"s{k}_mean"] == pytest.approx(ratio)
        assert f[f"s{k}_std"] == pytest.approx(math.sqrt(ratio * (1 - ratio)))
    # 32 px long at 2 um/px; at scale 4 the blocks are 2 px, so 16 blocks of 4 um
    assert f["s1_t0.5_major_axis_um"] == pytest.approx(_rectangle_axis(32) * 2.0)
    assert f["s4_t0.5_major_axis_um"] == pytest.approx(_rectangle_axis(16) * 4.0)
    assert f["q0.5"] == 0.0 and f["q0.9"] == 1.0
    assert [f[n] for n in SMALL.names() if n.startswith("hist_")] == pytest.approx([1 - ratio, 0, 0, ratio])
    assert "hist_3_of_4" in f
    assert f["tissue_mm2"] == pytest.approx(48 * 80 * (2.0 / 1000) ** 2)


def test_thresholds_separate_probability_levels() -> None:
    f = heatmap_features(_rectangle_heatmap(0.7), SMALL)
    assert f["s1_t0.5_major_axis_um"] > 0 and f["s1_t0.5_tumour_ratio"] > 0
    assert f["s1_t0.9_major_axis_um"] == 0.0 and f["s1_t0.9_tumour_ratio"] == 0.0
    assert f["s1_max"] == pytest.approx(0.7)
    assert [f[n] for n in SMALL.names() if n.startswith("hist_")][2] == pytest.approx((16 * 32) / (48 * 80))


def test_major_axis_in_micrometres_matches_the_drawn_ellipse() -> None:
    f = heatmap_features(_ellipse_heatmap(), FeatureConfig(scales=(1, 4, 16), thresholds=(0.5,)))
    drawn_um = 2 * 40 * 2.0  # the long diameter, 80 px at 2 um/px
    assert f["s1_t0.5_major_axis_um"] == pytest.approx(drawn_um, rel=0.02)
    assert f["s4_t0.5_major_axis_um"] == pytest.approx(drawn_um, rel=0.05)
    assert f["s16_t0.5_major_axis_um"] == pytest.approx(drawn_um, rel=0.1)


def test_all_zero_heatmap_gives_zero_tumour_features() -> None:
    heatmap = _rectangle_heatmap(0.0)
    f = heatmap_features(heatmap, FeatureConfig())
    tumour = [n for n in f if "major_axis" in n or "ratio" in n or n.endswith(("_max", "_mean", "_std"))]
    assert tumour and all(f[n] == 0.0 for n in tumour)
    assert all(f[n] == 0.0 for n in f if n.startswith("q"))
    assert f["hist_0_of_10"] == 1.0
    assert f["tissue_mm2"] > 0


def test_heatmap_without_tissue_gives_zeros() -> None:
    heatmap = _rectangle_heatmap()
    heatmap.tissue[:] = False
    f = heatmap_features(heatmap, SMALL)
    assert list(f) == SMALL.names()
    for name, value in f.items():
        if "major_axis" not in name:  # the axis is measured on the probabilities alone
            assert value == 0.0, name
    assert all(math.isfinite(v) for v in f.values())


def test_tiny_heatmap_smaller_than_a_block() -> None:
    heatmap = Heatmap(np.ones((3, 5), np.float32), np.ones((3, 5), bool), 16.0, 4.0)
    f = heatmap_features(heatmap, FeatureConfig(scales=(64,), thresholds=(0.5,)))
    assert list(f) == FeatureConfig(scales=(64,), thresholds=(0.5,)).names()
    assert all(math.isfinite(v) for v in f.values())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scales": (3,)},
        {"scales": (4, 8)},
        {"scales": (0,)},
        {"thresholds": (1.5,)},
        {"thresholds": (0.0,)},
        {"thresholds": (0.5, 1.0)},
    ],
)
def test_invalid_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        FeatureConfig(**kwargs)


def test_config_round_trips_through_a_dict() -> None:
    for config in (FeatureConfig(), SMALL):
        data = config.to_dict()
        assert all(isinstance(v, (list, int)) for v in data.values())  # JSON-friendly
        again = FeatureConfig.from_dict(data)
        assert again == config and again.names() == config.names()
    with pytest.raises(ConfigError, match=r"model\.joblib: features: unknown key\(s\) \['bins_'\]"):
        FeatureConfig.from_dict({**FeatureConfig().to_dict(), "bins_": 3}, "model.joblib: features")


def test_heatmap_axis_is_in_level0_pixels() -> None:
    heatmap = _ellipse_heatmap()
    measured = major_axis(heatmap.probability >= 0.5)
    axis = heatmap_axis(heatmap, threshold=0.5)
    assert axis.length_px == pytest.approx(measured.length_px * 8.0)
    np.testing.assert_allclose(axis.endpoints, measured.endpoints * 8.0)
    np.testing.assert_allclose(axis.endpoints.mean(axis=0), [80.5 * 8, 64.5 * 8], atol=1e-6)
    coarse = heatmap_axis(heatmap, threshold=0.5, scale=4)
    assert coarse.length_px == pytest.approx(80 * 8.0, rel=0.05)
    np.testing.assert_allclose(coarse.endpoints.mean(axis=0), [80.5 * 8, 64.5 * 8], atol=8.0)


def test_heatmap_axis_of_an_empty_heatmap() -> None:
    assert heatmap_axis(_rectangle_heatmap(0.0)).length_px == 0.0


def test_axis_feature_names_round_trip() -> None:
    for scale, threshold in [(4, 0.5), (16, 0.2), (256, 0.9), (1, 0.25)]:
        name = axis_feature_name(scale, threshold)
        assert parse_axis_feature(name) == (scale, threshold)
    assert axis_feature_name(4, 0.5) == "s4_t0.5_major_axis_um"
    assert parse_axis_feature("s4_t0.5_tumour_ratio") is None
    assert parse_axis_feature("s4_max") is None
    parsed = [parse_axis_feature(n) for n in FeatureConfig().names()]
    assert sum(p is not None for p in parsed) == 4 * 3


def test_repeated_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="repeated feature names"):
        FeatureConfig(quantiles=(0.5, 0.5))


def test_tiny_thresholds_still_parse() -> None:
    name = FeatureConfig(scales=(1,), thresholds=(1e-5,)).names()[0]
    assert parse_axis_feature(name) == (1, 1e-5)
