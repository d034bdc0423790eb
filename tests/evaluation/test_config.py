"""The task config: defaults, parsing, strictness."""

from __future__ import annotations

import json

import pytest

from evaluation.config import Config, config_to_dict, load_config, parse_config
from evaluation.errors import EvaluationError


def test_defaults_are_midog_detection():
    config = Config()
    assert config.metrics == ("detection",)
    assert config.sockets() == {"detection": "mitotic-figures"}
    assert config.detection.radius_mm == 0.0075
    assert config.detection.positive_name == "mitotic figure"
    assert config.detection.threshold is None
    assert parse_config({}) == config


def test_full_config_round_trips():
    raw = {
        "metrics": ["classification", "major_axis"],
        "case_input": "slide",
        "ignore_outputs": ["heatmap"],
        "classification": {"socket": "her2-positive", "threshold": 0.4, "bootstrap_samples": 10, "seed": 3,
                           "confidence_level": 0.9},
        "major_axis": {"socket": "axis", "tolerance": 0.1},
    }
    config = parse_config(raw)
    assert config.sockets() == {"classification": "her2-positive", "major_axis": "axis"}
    again = config_to_dict(config)
    assert parse_config(again) == config
    assert again["classification"]["threshold"] == 0.4 and "detection" not in again


@pytest.mark.parametrize("raw,message", [
    ([], "expected a JSON object, got list"),
    ({"metric": ["detection"]}, "unknown key(s) ['metric']"),
    ({"metrics": ["detection", "f1"]}, "expected distinct names"),
    ({"metrics": []}, "expected distinct names"),
    ({"detection": {"radius": 7.5}}, "config: detection: unknown key(s) ['radius']"),
    ({"detection": {"radius_mm": 0}}, "config: detection.radius_mm: must be > 0.0"),
    ({"detection": {"threshold": 1.5}}, "must be <= 1.0"),
    ({"detection": {"threshold": "0.5"}}, "expected a finite number"),
    ({"detection": {"froc_fp_rates": []}}, "expected a non-empty list"),
    ({"classification": {"bootstrap_samples": -1}}, "expected a non-negative integer"),
    ({"classification": {"confidence_level": 1}}, "must be < 1"),
    ({"metrics": ["detection", "classification"], "classification": {"socket": "mitotic-figures"}},
     "two metrics read the same output socket"),
    ({"ignore_outputs": ["mitotic-figures"]}, "lists socket(s) ['mitotic-figures'] that a metric scores"),
    ({"detection": {"negative_names": ["mitotic figure"]}}, "positive_name is also listed"),
])
def test_bad_configs(raw, message):
    with pytest.raises(EvaluationError) as err:
        parse_config(raw)
    assert message in str(err.value)


def test_load_from_flag_then_ground_truth_then_defaults(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    assert load_config(None, gt) == (Config(), "built-in defaults (MIDOG-style detection)")
    (gt / "config.json").write_text(json.dumps({"detection": {"radius_mm": 0.01}}))
    config, origin = load_config(None, gt)
    assert config.detection.radius_mm == 0.01 and origin.endswith("config.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"detection": {"radius_mm": 0.02}}))
    assert load_config(other, gt)[0].detection.radius_mm == 0.02
    with pytest.raises(EvaluationError, match="config file not found"):
        load_config(tmp_path / "missing.json", gt)
