"""``python -m training``: help, errors as one line, and a real synth run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openslide
import pytest

from training.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_module_help_explains_synth():
    done = subprocess.run(
        [sys.executable, "-m", "training", "synth", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    for word in (
        "--out",
        "--count",
        "--seed",
        "--size",
        "--mpp",
        "--scanner",
        "--label",
        "--mitoses",
        "--imposters",
        "--compression",
        "--jpeg-quality",
        "--blur",
        "--tile",
        "midog.json",
    ):
        assert word in done.stdout
    top = subprocess.run(
        [sys.executable, "-m", "training", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert top.returncode == 0 and "synth" in top.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--size", "12x"], "WIDTHxHEIGHT"),
        (["--size", "100x100"], "[256, 200000]"),
        (["--scanner", "Z"], "invalid choice"),
        (["--mpp", "abc"], "--mpp must be a number"),
        (["--count", "0"], "--count must be in"),
        (["--tile", "300"], "invalid choice"),
        (["--prefix", "a/b"], "--prefix must be letters"),
        (["--prefix", "../evil"], "--prefix must be letters"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(tmp_path), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_missing_out_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth"])
    assert exc.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_kit_errors_exit_1_with_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["synth", "--out", str(out), "--size", "512x512", "--mitoses", "50", "--quiet"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot place 50 mitoses")
    assert not out.exists() or not any(out.iterdir())
    # a density names --mitoses-per-mm2, the option given (not --mitoses)
    code = main(["synth", "--out", str(out), "--size", "512x512", "--mitoses-per-mm2", "1000", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        code == 1
        and len(err) == 1
        and err[0].endswith("use a larger --size or a lower --mitoses-per-mm2 (this slide's 1000)")
    )
    assert not out.exists() or not any(out.iterdir())
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code = main(["synth", "--out", str(a_file), "--size", "512x512", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "is not a folder" in err and "Traceback" not in err


def test_synth_writes_seeded_slides(tmp_path, capsys):
    code = main(
        [
            "synth",
            "--out",
            str(tmp_path),
            "--count",
            "2",
            "--seed",
            "40",
            "--size",
            "1100x800",
            "--scanner",
            "random",
            "--label",
            "normal",
            "--mitoses",
            "2",
            "--imposters",
            "3",
            "--compression",
            "deflate",
            "--tile",
            "256",
            "--mpp",
            "0.5",
            "--quiet",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("synth-000040.tiff: 1100x800 px @ 0.5 um/px")
    for seed in (40, 41):
        truth = json.loads((tmp_path / f"synth-{seed:06d}.truth.json").read_text())
        assert truth["seed"] == seed and truth["label"] == "normal" and truth["mpp"] == 0.5
        assert truth["tiff"] == {
            "compression": "deflate",
            "jpeg_quality": truth["scanner"]["jpeg_quality"],
            "tile": 256,
            "level_factor": 4,
            "top_max": 2048,
        }
        midog = json.loads((tmp_path / f"synth-{seed:06d}.midog.json").read_text())
        x1, y1, x2, y2 = midog["annotations"][0]["bbox"]
        assert x2 - x1 == 25  # 12.5 um at 0.5 um/px
        s = openslide.OpenSlide(str(tmp_path / f"synth-{seed:06d}.tiff"))
        assert s.dimensions == (1100, 800) and float(s.properties["openslide.mpp-x"]) == 0.5
