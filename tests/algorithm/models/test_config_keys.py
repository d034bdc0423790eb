"""Checkpoint configs: an unknown key fails the load, naming the file and the key (it was dropped before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from algorithm.errors import ConfigError
from algorithm.models import (
    DetectorConfig,
    SegmenterConfig,
    build_detector,
    build_segmenter,
    load_detector,
    load_segmenter,
    save_checkpoint,
)


def test_a_detector_checkpoint_with_an_unknown_config_key_is_refused(tmp_path: Path) -> None:
    config = DetectorConfig(tile_size=128)
    path = tmp_path / "detector.pt"
    save_checkpoint(path, "detector", {**config.to_dict(), "anchor_ratios": [0.5, 1.0]}, build_detector(config))
    message = f"{path}: config: unknown key(s) ['anchor_ratios']; known keys: ['anchor_sizes', 'arch'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_detector(path)


def test_a_segmenter_checkpoint_with_an_unknown_config_key_is_refused(tmp_path: Path) -> None:
    config = SegmenterConfig(tile_size=64)
    path = tmp_path / "segmenter.pt"
    save_checkpoint(path, "segmenter", {**config.to_dict(), "dropout": 0.1}, build_segmenter(config))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: config: unknown key(s) ['dropout']")):
        load_segmenter(path)


@pytest.mark.parametrize("config", [DetectorConfig(), SegmenterConfig()])
def test_configs_round_trip_and_name_a_bad_value(config: DetectorConfig | SegmenterConfig) -> None:
    assert type(config).from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"^x\.pt: config: stages: 3 "):
        type(config).from_dict({**config.to_dict(), "stages": 3}, source="x.pt: config")
    with pytest.raises(ConfigError, match=r"^x\.pt: config: expected an object"):
        type(config).from_dict([], source="x.pt: config")  # type: ignore[arg-type]  # the wrong type is the point
