"""The training commands' shared argument types: each refuses a bad value as it is typed, naming the problem."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from training.arguments import (
    at_least,
    compute_device,
    detector_tile_size,
    fold_count,
    non_negative_float,
    output_file,
    positive_float,
)


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (positive_float, "0", "a number above 0, got 0"),
        (positive_float, "-1", "a number above 0, got -1"),
        (positive_float, "nan", "a finite number, got nan"),
        (positive_float, "inf", "a finite number, got inf"),
        (positive_float, "x", "a number, got 'x'"),
        (non_negative_float, "-3", "0 or more, got -3"),
        (non_negative_float, "nan", "a finite number, got nan"),
        (fold_count, "1", "at least 2 (cross-validation holds out one fold and trains on the others), got 1"),
        (fold_count, "2.5", "a whole number, got '2.5'"),
        (at_least(3, "why"), "2", "at least 3 (why), got 2"),
        (detector_tile_size, "7", "a multiple of 32 pixels of at least 64"),
        (detector_tile_size, "100", "a multiple of 32 pixels of at least 64"),
        (detector_tile_size, "32", "a multiple of 32 pixels of at least 64"),
        (detector_tile_size, "0", "at least 1, got 0"),
        (compute_device, "banana", "unknown device 'banana'; use auto, cpu, cuda or cuda:N"),
    ],
)
def test_bad_values_are_refused_with_the_problem(parse, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_good_values_pass() -> None:
    assert positive_float("1e-3") == 1e-3
    assert non_negative_float("0") == 0.0
    assert fold_count("2") == 2
    assert detector_tile_size("64") == 64 and detector_tile_size("256") == 256
    assert compute_device("cpu") == "cpu"
    assert compute_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is usable here")
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="device 'cuda' asked for, but CUDA is not available"):
        compute_device("cuda")


def test_output_file_refuses_a_folder_or_a_file_above_it(tmp_path: Path) -> None:
    assert output_file(str(tmp_path / "new" / "report.json")) == tmp_path / "new" / "report.json"
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder; give the name of a file to write"):
        output_file(str(tmp_path))
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match=r"report\.json cannot be written: .*a-file is a file"):
        output_file(str(tmp_path / "a-file" / "report.json"))
