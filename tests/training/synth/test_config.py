from __future__ import annotations

import pytest

from algorithm.errors import ConfigError
from training.synth.config import SynthConfig, pick


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"width": 100}, "width"),
        ({"mpp": 0.0}, "mpp"),
        ({"scanner": "Q"}, "scanner"),
        ({"label": "maybe"}, "label"),
        ({"mitoses": -1}, "mitoses"),
        ({"seed": -3}, "seed"),
        ({"blur": 99.0}, "blur"),
        ({"positive": 1}, "positive must be true or false"),
        ({"positive": "yes"}, "positive must be true or false"),
    ],
)
def test_invalid_configurations_raise_config_error(changes, message):
    with pytest.raises(ConfigError, match=message):
        SynthConfig(**changes)


def test_content_key_ignores_scanner_and_blur_only():
    a = SynthConfig(seed=1)
    assert a.content_key() == a.replace(scanner="D", blur=2.0).content_key()
    assert a.content_key() != a.replace(seed=2).content_key()


def test_round_trip_through_dict():
    c = SynthConfig(seed=4, width=1000, height=800, scanner="B", label="normal")
    assert SynthConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match=r"^slide\.json: unknown key\(s\) \['colour'\]; known keys: \['blur', "):
        SynthConfig.from_dict({**c.to_dict(), "colour": "red"}, source="slide.json")


def test_positive_is_content_and_recorded_only_when_true():
    a = SynthConfig(seed=4, width=1000, height=800)
    b = a.replace(positive=True)
    assert a.positive is False and a.content_key() != b.content_key()
    assert "positive" not in a.to_dict()  # a negative slide's truth file is the one of before the field
    assert b.to_dict()["positive"] is True
    assert SynthConfig.from_dict(a.to_dict()) == a and SynthConfig.from_dict(b.to_dict()) == b


def test_pick_is_deterministic_and_covers_choices():
    assert pick(3, "scanner", ("A", "B")) == pick(3, "scanner", ("A", "B"))
    assert {pick(s, "scanner", ("A", "B", "C", "D")) for s in range(40)} == {"A", "B", "C", "D"}
