"""The synthetic-slide folder reader (training/datasets/synthetic.py): confounders and figures' kinds from the
truth file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.datasets.synthetic import read_synthetic_folder
from training.synth import SynthConfig, generate_slide


def test_confounders_come_from_the_slides_truth(tmp_path: Path) -> None:
    config = SynthConfig(width=1024, height=1024, seed=5, label="tumour", mitoses=3, imposters=3, confounders=5.0)
    result = generate_slide(config, tmp_path, name="s")
    (slide,) = read_synthetic_folder(tmp_path)
    truth = json.loads(result.files.truth.read_text())
    assert len(truth["confounders"]) > 0
    expected = np.array([[c["x"], c["y"]] for c in truth["confounders"]])
    assert slide.confounders.shape == (len(truth["confounders"]), 2)
    np.testing.assert_array_equal(slide.confounders, expected)
    assert slide.confounder_kinds == [c["kind"] for c in truth["confounders"]]
    assert (len(slide.mitoses), len(slide.imposters)) == (3, 3)  # the MIDOG file's cells, unchanged
    assert slide.domain == "A"


def test_slides_without_confounders_have_an_empty_array(tmp_path: Path) -> None:
    config = SynthConfig(width=1024, height=1024, seed=6, mitoses=2, imposters=2, confounders=0.0)
    result = generate_slide(config, tmp_path, name="s")
    truth = json.loads(result.files.truth.read_text())
    del truth["confounders"]  # a slide written before confounders existed
    result.files.truth.write_text(json.dumps(truth))
    (slide,) = read_synthetic_folder(tmp_path)
    assert slide.confounders.shape == (0, 2) and slide.confounder_kinds == []


def test_a_malformed_confounder_is_one_clear_error(tmp_path: Path) -> None:
    result = generate_slide(SynthConfig(width=1024, height=1024, seed=7, mitoses=2, imposters=2), tmp_path, name="s")
    truth = json.loads(result.files.truth.read_text())
    truth["confounders"] = [{"kind": "pyknotic", "x": 10.0}]
    result.files.truth.write_text(json.dumps(truth))
    with pytest.raises(ConfigError, match=r"s\.truth\.json: a confounder entry without a numeric x and y"):
        read_synthetic_folder(tmp_path)


def test_each_mitosis_gets_its_phase_and_place_from_the_truth(tmp_path: Path) -> None:
    result = generate_slide(SynthConfig(width=2048, height=2048, seed=8, mitoses=6, imposters=4), tmp_path, name="s")
    (slide,) = read_synthetic_folder(tmp_path)
    truth = json.loads(result.files.truth.read_text())
    place = {True: "in tumour", False: "outside tumour"}
    by_centre = {(round(m["x"]), round(m["y"])): f"{m['phase']}, {place[m['in_tumour']]}" for m in truth["mitoses"]}
    # the MIDOG file's box centres, in its own order, each named by the truth's figure there
    assert slide.mitosis_kinds == [by_centre[(round(x), round(y))] for x, y in slide.mitoses]
    assert len(slide.mitosis_kinds) == 6


def test_a_truth_without_phases_names_none_and_a_mismatch_is_one_clear_error(tmp_path: Path) -> None:
    result = generate_slide(SynthConfig(width=1024, height=1024, seed=9, mitoses=3, imposters=1), tmp_path, name="s")
    truth = json.loads(result.files.truth.read_text())
    for m in truth["mitoses"]:
        del m["phase"]  # a truth file of an older version
    result.files.truth.write_text(json.dumps(truth))
    (slide,) = read_synthetic_folder(tmp_path)
    assert slide.mitosis_kinds == []
    truth["mitoses"] = [{"x": 1.0, "y": 1.0, "phase": "anaphase", "in_tumour": True}] * 3  # not where the boxes are
    result.files.truth.write_text(json.dumps(truth))
    with pytest.raises(ConfigError, match=r"s\.truth\.json: no mitosis entry at the MIDOG box centred on"):
        read_synthetic_folder(tmp_path)
