"""``python -m algorithm program``: a TorchScript or torch.export file wrapped as the model file the container loads."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from algorithm.console import run_main
from algorithm.models import load_detector, load_segmenter
from algorithm.models.program_cli import main
from tests.algorithm.models.own_networks import Darkness, DarkSpots
from tests.conftest import REPO, blob_image


def _torchscript(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated
        torch.jit.save(torch.jit.script(module), str(path))
    return path


def _pt2(path: Path) -> Path:
    batch = {"x": {0: torch.export.Dim("batch")}}
    torch.export.save(torch.export.export(Darkness().eval(), (torch.rand(2, 3, 64, 64),), dynamic_shapes=batch), path)
    return path


def test_an_exported_segmenter_with_a_stain_target_into_a_model_folder(tmp_path: Path) -> None:
    Image.fromarray(blob_image(200, 200, seed=2)).save(tmp_path / "target.png")
    folder = tmp_path / "my-model"
    folder.mkdir()
    argv = [str(_pt2(tmp_path / "net.pt2")), "--kind", "segmenter", "--tile-size", "64", "--mpp", "2"]
    assert main([*argv, "--stain-target", str(tmp_path / "target.png"), "--out", str(folder)]) == 0
    network, config, checkpoint = load_segmenter(folder / "segmenter.pt")
    assert (config.tile_size, config.mpp) == (64, 2.0) and checkpoint["program_format"] == "export"
    assert checkpoint["stain"] is not None and checkpoint["stain"].method == "macenko"
    tiles = torch.rand(3, 3, 64, 64)
    torch.testing.assert_close(network(tiles), Darkness()(tiles))


def test_a_torchscript_detector_keeps_its_threshold_and_views(tmp_path: Path) -> None:
    network = _torchscript(DarkSpots(), tmp_path / "net.pt")
    out = tmp_path / "detector.pt"
    argv = [str(network), "--kind", "detector", "--tile-size", "64", "--mpp", "0.5", "--threshold", "0.4"]
    assert main([*argv, "--views", "2", "--out", str(out)]) == 0
    _, config, checkpoint = load_detector(out)
    assert (config.views, checkpoint["threshold"], checkpoint["stain"]) == (2, 0.4, None)


@pytest.mark.parametrize(
    "case,message",
    [
        ("missing", "missing.pt2: file not found"),
        ("checkpoint", "already a model file of the kit (a checkpoint of the kit's architecture, kind segmenter)"),
        ("views", "--views is a detector's; a segmenter takes none"),
        ("output", "a detector program on a batch of (3, 3, 64, 64) random tiles: "),
        ("folder", "nowhere: folder not found (--out)"),
    ],
)
def test_what_cannot_be_wrapped_is_one_error_line_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    network = _pt2(tmp_path / "net.pt2")
    kind, extra, out = "segmenter", [], tmp_path / "out.pt"
    if case == "missing":
        network = tmp_path / "missing.pt2"
    elif case == "checkpoint":
        network = REPO / "models" / "segmenter.pt"
    elif case == "views":
        extra = ["--views", "4"]
    elif case == "output":
        kind = "detector"
    elif case == "folder":
        out = tmp_path / "nowhere" / "out.pt"
    argv = [str(network), "--kind", kind, "--tile-size", "64", "--mpp", "1", "--out", str(out), *extra]
    assert run_main(main, argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert not out.exists()


def test_the_command_is_reached_from_python_m_algorithm() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "algorithm", "program", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and "usage: python -m algorithm program" in run.stdout
    assert "--stain-target" in run.stdout and "examples:" in run.stdout


def test_the_kinds_files_are_the_ones_the_job_loads() -> None:
    from algorithm import job
    from algorithm.models.program_cli import KIND_FILES

    assert KIND_FILES == {
        "detector": job.DETECTOR_FILE,
        "segmenter": job.SEGMENTER_FILE,
        "nuclei": job.NUCLEI_FILE,
        "patch-classifier": job.PATCH_CLASSIFIER_FILE,
    }


def test_an_out_ending_in_a_slash_is_a_folder_made_for_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    network = str(_pt2(tmp_path / "net.pt2"))
    assert main([network, "--kind", "segmenter", "--tile-size", "64", "--mpp", "2", "--out", "my-model/"]) == 0
    assert (tmp_path / "my-model" / "segmenter.pt").is_file()
    # a failure leaves no folder behind
    argv = [network, "--kind", "detector", "--tile-size", "64", "--mpp", "2", "--out", "other/"]
    assert run_main(main, argv) == 1
    assert not (tmp_path / "other").exists()


def test_the_network_file_itself_and_a_model_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = _torchscript(Darkness(), tmp_path / "net.pt")
    argv = [str(network), "--kind", "segmenter", "--tile-size", "64", "--mpp", "2", "--out", str(network)]
    assert run_main(main, argv) == 1
    assert "--out is the network's own file, which it would overwrite" in capsys.readouterr().err
    wrapped = tmp_path / "segmenter.pt"
    assert main([*argv[:-1], str(wrapped)]) == 0
    for already, what in ((wrapped, "a network of your own, wrapped"), (REPO / "models" / "detector.pt", "kit's")):
        argv = [str(already), "--kind", "segmenter", "--tile-size", "64", "--mpp", "2", "--out", str(tmp_path / "x")]
        assert run_main(main, argv) == 1
        err = capsys.readouterr().err
        assert f"{already}: already a model file of the kit" in err and what in err


def test_a_transparent_stain_target_and_another_kinds_file_name_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = str(_pt2(tmp_path / "net.pt2"))
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[25:75, 25:75] = (*blob_image(50, 50, seed=1)[0, 0], 255)
    Image.fromarray(rgba).save(tmp_path / "target.png")
    argv = [network, "--kind", "segmenter", "--tile-size", "64", "--mpp", "2"]
    assert run_main(main, [*argv, "--stain-target", str(tmp_path / "target.png"), "--out", str(tmp_path / "a")]) == 1
    assert "target.png: 75% of its pixels are transparent; save the stain target without" in capsys.readouterr().err
    assert run_main(main, [*argv, "--out", str(tmp_path / "nuclei.pt")]) == 1
    assert "loads its nuclei from nuclei.pt; a segmenter goes in segmenter.pt" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "mine.pt")]) == 0  # written, with a word about its name
    err = capsys.readouterr().err
    assert "mine.pt: the container loads a segmenter from segmenter.pt in its model folder: name it so there" in err


def test_a_pt2_named_pt_loads_without_torchs_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    network = _pt2(tmp_path / "net.pt2").rename(tmp_path / "net.pt")
    argv = [str(network), "--kind", "segmenter", "--tile-size", "64", "--mpp", "2", "--out", str(tmp_path / "o/")]
    run = subprocess.run(
        [sys.executable, "-m", "algorithm", "program", *argv], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "Unable to load package" not in run.stderr, run.stderr
