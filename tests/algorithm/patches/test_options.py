"""Patch options: defaults, checks with a clear message, the checkpoint's round trip."""

from __future__ import annotations

import math
from typing import Any

import pytest

from algorithm.errors import ConfigError
from algorithm.patches import PatchOptions


def test_defaults_are_the_studys_patches() -> None:
    options = PatchOptions()
    assert (options.size, options.mpp, options.context) == (296, 1.0, 1)
    assert options.patch_um == 296.0
    assert 0 < options.min_haematoxylin_context <= options.min_haematoxylin < 1
    assert options.filter_mpp >= options.mpp


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("size", 0, "patch size"),
        ("size", 2.5, "patch size"),
        ("size", True, "patch size"),
        ("context", -1, "context"),
        ("mpp", 0.0, "mpp"),
        ("mpp", math.nan, "mpp"),
        ("filter_mpp", -4.0, "filter_mpp"),
        ("haematoxylin_threshold", math.inf, "haematoxylin_threshold"),
        ("min_tissue", 1.5, "min_tissue"),
        ("max_blood", -0.1, "max_blood"),
        ("min_haematoxylin", "0.1", "min_haematoxylin"),
        ("min_haematoxylin_context", math.nan, "min_haematoxylin_context"),
    ],
)
def test_invalid_options_are_refused_naming_the_option(field: str, value: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        PatchOptions(**{field: value})


def test_round_trip_through_a_checkpoint_dict() -> None:
    options = PatchOptions(size=128, min_haematoxylin=0.2, context=2)
    assert PatchOptions.from_dict(options.to_dict()) == options


def test_unknown_keys_are_errors_naming_the_source() -> None:
    with pytest.raises(ConfigError, match="checkpoint: unknown key"):
        PatchOptions.from_dict({"size": 296, "nuclei": 0.1}, "checkpoint")
    with pytest.raises(ConfigError, match="patch size"):
        PatchOptions.from_dict({"size": -1})
