"""One definition of the kit's sockets on both sides: the same file in both packages, and the
algorithm's real output scored with no unit configured (the unit comes from the socket)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import evaluation.sockets
from algorithm.interface import sockets
from algorithm.interface.tasks import HELP, RESULT_UNITS, TASKS
from algorithm.job import BUNDLED_MODELS, JobOptions, run_job
from evaluation.cli import main as evaluate
from training.synth import SynthConfig, generate_slide

REPO = Path(__file__).resolve().parents[2]


def test_the_evaluation_carries_the_algorithms_socket_file():
    original = REPO / "algorithm" / "interface" / "sockets.py"
    copy = REPO / "evaluation" / "sockets.py"
    assert copy.read_bytes() == original.read_bytes(), f"edit {original}, then copy it: cp {original} {copy}"


def test_both_sides_see_the_same_definitions():
    def plain(catalogue: dict) -> dict:
        return {slug: dataclasses.astuple(socket) for slug, socket in catalogue.items()}

    assert plain(evaluation.sockets.SOCKETS) == plain(sockets.SOCKETS)
    assert sockets.TUMOUR_MAJOR_AXIS.unit == "um"  # what the algorithm writes (its result is major_axis_um)


def test_the_built_in_tasks_write_to_the_defined_sockets_in_their_units():
    for task in TASKS.values():
        assert sockets.SOCKETS[task.slide.slug] == task.slide
        for result, socket in task.outputs.items():
            assert sockets.SOCKETS[socket.slug] == socket, (task.name, result)
            assert socket.unit == RESULT_UNITS.get(result), (task.name, result)


def test_sockets_reject_unknown_keys_and_units():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['units'\]; known keys: \['slug', 'relative_path'"):
        sockets.Socket.from_dict({"slug": "a", "relative_path": "a.json", "kind": "Float", "units": "um"})
    with pytest.raises(ValueError, match=r"unit: expected one of \['mm', 'um'\] or null, got 'cm'"):
        sockets.Socket("a", "a.json", "Float", unit="cm")


def test_the_algorithms_major_axis_is_scored_in_its_own_unit_with_none_configured(tmp_path: Path) -> None:
    """The real job on a small synthetic tumour slide, its output laid out as grand-challenge hands it
    over, scored with a config that names the socket and nothing about units."""
    made = generate_slide(
        SynthConfig(seed=8100, width=2048, height=2048, scanner="C", label="tumour", mitoses=0, imposters=0),
        tmp_path / "slides",
        name="case-8100",
    )
    truth_um = json.loads(made.files.truth.read_text())["tumour"]["major_axis_um"]
    input_dir, truth_dir = tmp_path / "input", tmp_path / "ground_truth"
    run_job(
        JobOptions(
            input=made.files.slide,
            output=input_dir / "job" / "output",
            task=HELP,
            model_dir=BUNDLED_MODELS,
            device="cpu",
        )
    )
    outputs = [
        {
            "file": f"https://grand-challenge.org/media/job/{socket.relative_path}",
            "image": None,
            "value": None,
            "interface": {
                "slug": socket.slug,
                "kind": socket.kind,
                "super_kind": "File",
                "relative_path": socket.relative_path,
            },
        }
        for socket in HELP.outputs.values()
        if socket.relative_path.endswith(".json")
    ]
    slide = {
        "file": None,
        "image": {"name": made.files.slide.name},
        "value": None,
        "interface": {
            "slug": HELP.slide.slug,
            "kind": "Image",
            "super_kind": "Image",
            "relative_path": HELP.slide.relative_path,
        },
    }
    (input_dir / "predictions.json").write_text(
        json.dumps([{"pk": "job", "status": "Succeeded", "inputs": [slide], "outputs": outputs}])
    )
    truth_dir.mkdir()
    (truth_dir / "slides.csv").write_text(f"case,label,major_axis_mm\n{made.files.slide.name},1,{truth_um / 1000}\n")
    (truth_dir / "config.json").write_text(
        json.dumps(
            {
                "metrics": ["major_axis"],
                "major_axis": {"socket": "tumour-major-axis"},
                "ignore_outputs": ["tumour-likelihood", "tumour-major-axis-line", "tumour-heatmap"],
            }
        )
    )

    assert (
        evaluate(
            [
                "--input",
                str(input_dir),
                "--ground-truth",
                str(truth_dir),
                "--output",
                str(tmp_path / "output"),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    assert metrics["aggregates"]["config"]["major_axis"]["unit"] == "um"  # resolved from the socket, and recorded
    (case,) = metrics["results"]
    written_um = json.loads((input_dir / "job" / "output" / "tumour-major-axis.json").read_text())
    assert case["major_axis"]["predicted_mm"] == pytest.approx(written_um / 1000)
    assert case["major_axis"]["relative_error"] < 0.15  # micrometres read as micrometres, not 1000x off
