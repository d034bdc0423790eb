from __future__ import annotations

import numpy as np
import pytest

from algorithm.errors import ConfigError
from algorithm.features import PatchFeatureConfig, patch_features


def test_features_come_in_the_configured_order_and_length() -> None:
    config = PatchFeatureConfig(ranks=4, quantiles=(0.5,), histogram_bins=2)
    features = patch_features(np.array([0.9, 0.1, 0.6]), config)
    assert list(features) == config.names()
    assert config.names() == [
        "rank_0_of_4", "rank_1_of_4", "rank_2_of_4", "rank_3_of_4", "q0.5", "hist_0_of_2", "hist_1_of_2", "mean",
        "patches",
    ]  # fmt: skip
    assert features["rank_0_of_4"] == pytest.approx(0.9)
    assert features["patches"] == 3.0
    assert features["mean"] == pytest.approx(1.6 / 3)


def test_a_slide_without_patches_has_all_zero_features() -> None:
    assert set(patch_features(np.zeros(0)).values()) == {0.0}


def test_config_round_trips_and_is_checked() -> None:
    config = PatchFeatureConfig(ranks=8, quantiles=(0.25, 0.75))
    assert PatchFeatureConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="rank"):
        PatchFeatureConfig(ranks=0)
    with pytest.raises(ConfigError, match="quantiles"):
        PatchFeatureConfig(quantiles=(0.5, 1.5))
    with pytest.raises(ConfigError, match="unknown key"):
        PatchFeatureConfig.from_dict({"ranks": 4, "bins": 3}, "m.joblib: features")
