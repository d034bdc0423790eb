"""``python -m training label-classifier``'s command line: bad values refused as they are typed (its runs on real
out-of-fold probabilities are in tests/training/patch_classifier/test_command.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.usage import usage_error


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--folds", "0"],
            "argument --folds: at least 2 (cross-validation holds out one fold and trains on the others)",
        ),
        (
            ["--folds", "1"],
            "argument --folds: at least 2 (cross-validation holds out one fold and trains on the others)",
        ),
        (["--ranks", "0"], "argument --ranks: at least 1, got 0"),
        (["--device", "banana"], "argument --device: unknown device 'banana'"),
    ],
)
def test_bad_values_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "label_model.joblib"
    argv = ["label-classifier", "--probabilities", str(tmp_path / "oof.json"), "--out", str(out)]
    assert usage_error([*argv, *options], capsys).startswith(message)  # the probabilities file does not exist
    assert not out.exists()


def test_an_out_that_is_a_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["label-classifier", "--probabilities", str(tmp_path / "oof.json"), "--out", str(tmp_path)]
    assert usage_error(argv, capsys) == (f"argument --out: {tmp_path} is a folder; give the name of a file to write")
