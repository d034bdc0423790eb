"""The shared command-line argument types: a resolution, a probability, a count and an output folder checked
where they are typed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from algorithm.options import microns_per_pixel, output_folder, positive_int, probability
from tests.unprivileged import locked_folder, raised_by


def test_microns_per_pixel_takes_a_microscopes_range() -> None:
    assert microns_per_pixel("0.25") == 0.25 and microns_per_pixel("100") == 100.0 and microns_per_pixel("0.01") == 0.01
    for text, why in (
        ("0", "between 0.01 and 100"),
        ("-0.5", "between 0.01 and 100"),
        ("352.8", "between 0.01 and 100"),  # 72 dpi: a screen's, not a microscope's
        ("nan", "a finite number"),
        ("inf", "a finite number"),
        ("0.25um", "a number"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            microns_per_pixel(text)


def test_probability_is_in_the_unit_interval() -> None:
    assert probability("0") == 0.0 and probability("0.65") == 0.65 and probability("1") == 1.0
    for text in ("-0.1", "1.5", "nan", "high"):
        with pytest.raises(argparse.ArgumentTypeError):
            probability(text)


def test_an_output_folder_may_be_absent_but_not_a_file(tmp_path: Path) -> None:
    assert output_folder(str(tmp_path / "new")) == tmp_path / "new"  # made by the command later
    assert output_folder(str(tmp_path)) == tmp_path
    (tmp_path / "taken").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="taken is a file, not a folder"):
        output_folder(str(tmp_path / "taken"))
    with pytest.raises(argparse.ArgumentTypeError, match="new cannot be made: .*taken is a file, not a folder"):
        output_folder(str(tmp_path / "taken" / "deeper" / "new"))


def test_an_output_folder_must_be_writable(tmp_path: Path) -> None:
    locked, reader = locked_folder(tmp_path / "locked"), "from algorithm.options import output_folder"
    refused = f"ArgumentTypeError: {locked}: no permission to write in this folder"
    assert raised_by(reader, f"output_folder({str(locked)!r})") == refused
    new = locked / "new"
    refused = f"ArgumentTypeError: {new} cannot be made: no permission to write in {locked}"
    assert raised_by(reader, f"output_folder({str(new)!r})") == refused


def test_positive_int_is_a_whole_number_of_at_least_one() -> None:
    assert positive_int("1") == 1 and positive_int("256") == 256
    for text, why in (("0", "at least 1, got 0"), ("-5", "at least 1"), ("2.5", "a whole number"), ("x", "whole")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            positive_int(text)
