"""The task config: defaults, parsing, strictness."""

from __future__ import annotations

import json

import pytest

from evaluation.config import (
    ClassificationConfig,
    Config,
    DetectionConfig,
    MajorAxisConfig,
    config_to_dict,
    load_config,
    parse_config,
)
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
        "classification": {
            "socket": "her2-positive",
            "threshold": 0.4,
            "bootstrap_samples": 10,
            "seed": 3,
            "confidence_level": 0.9,
        },
        "major_axis": {"socket": "axis", "tolerance": 0.1, "unit": "mm"},
    }
    config = parse_config(raw)
    assert config.sockets() == {"classification": "her2-positive", "major_axis": "axis"}
    again = config_to_dict(config)
    assert parse_config(again) == config
    assert again["classification"]["threshold"] == 0.4 and "detection" not in again


@pytest.mark.parametrize(
    "raw,message",
    [
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
        (
            {"metrics": ["detection", "classification"], "classification": {"socket": "mitotic-figures"}},
            "two metrics read the same output socket",
        ),
        ({"ignore_outputs": ["mitotic-figures"]}, "lists socket(s) ['mitotic-figures'] that a metric scores"),
        (
            {"detection": {"negative_names": ["mitotic figure"]}},
            "config: detection.negative_names: positive_name 'mitotic figure' is also listed here",
        ),
        ({"detection": {"negative_names": ["x", 3]}}, "detection.negative_names[1]: expected a non-empty string"),
        ({"major_axis": {"unit": "cm"}}, "config: major_axis.unit: expected one of ['mm', 'um'], got 'cm'"),
        (
            {"major_axis": {"socket": "axis"}},
            "major_axis.unit: socket 'axis' has no unit in the kit's socket definitions",
        ),
        ({"major_axis": {"socket": "tumour-likelihood"}}, "socket 'tumour-likelihood' has no unit"),
        (
            {"major_axis": {"units": "um"}},
            "config: major_axis: unknown key(s) ['units']; known keys: ['socket', 'tolerance', 'unit']",
        ),
        ({"segmentation": []}, "config: segmentation: expected a JSON object, got list"),
        ({"plots": "yes"}, "config: plots: expected true or false, got 'yes'"),
        ({"plots": 1}, "config: plots: expected true or false, got 1"),
    ],
)
def test_bad_configs(raw, message):
    with pytest.raises(EvaluationError) as err:
        parse_config(raw)
    assert message in str(err.value)


def test_plots_key_is_read_but_not_recorded_with_the_metrics():
    assert Config().plots is False
    config = parse_config({"plots": True})
    assert config.plots is True
    assert "plots" not in config_to_dict(config)  # it changes which files are written, not a number


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


def test_unknown_keys_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"classification": {"treshold": 0.4}}))
    with pytest.raises(EvaluationError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: classification: unknown key(s) ['treshold']; known keys: [")


def test_major_axis_unit_comes_from_the_socket_definition():
    # The kit's algorithm writes tumour-major-axis in micrometres (evaluation/sockets.py says so).
    assert MajorAxisConfig().unit == "um" and MajorAxisConfig().millimetres_per_unit == 1e-3
    assert parse_config({"major_axis": {}}).major_axis.unit == "um"
    assert parse_config({"major_axis": {"unit": None}}).major_axis.unit == "um"
    # An organiser whose algorithms write millimetres says so; a socket the kit does not define needs it said.
    assert parse_config({"major_axis": {"unit": "mm"}}).major_axis.millimetres_per_unit == 1.0
    assert MajorAxisConfig(socket="length", unit="mm").unit == "mm"
    # The resolved unit is what metrics.json records.
    assert config_to_dict(Config(metrics=("major_axis",)))["major_axis"]["unit"] == "um"


def test_sections_check_their_values_when_built_in_python_too():
    with pytest.raises(EvaluationError, match=r"^radius_mm: must be > 0.0, got -1$"):
        DetectionConfig(radius_mm=-1)
    with pytest.raises(EvaluationError, match="confidence_level: must be < 1"):
        ClassificationConfig(confidence_level=1.0)
    with pytest.raises(EvaluationError, match="two metrics read the same output socket"):
        Config(metrics=("detection", "classification"), classification=ClassificationConfig(socket="mitotic-figures"))
    with pytest.raises(EvaluationError, match="detection: expected a DetectionConfig"):
        Config(detection={"radius_mm": 0.01})  # type: ignore[arg-type]  # the wrong type is the point
    # JSON lists and integers are normalised: configs from JSON and from Python compare equal.
    assert DetectionConfig(negative_names=["a"], froc_fp_rates=[1, 2]) == DetectionConfig(  # type: ignore[arg-type]  # lists, as JSON gives them
        negative_names=("a",), froc_fp_rates=(1.0, 2.0)
    )
