from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from algorithm.errors import ConfigError, KitError
from algorithm.interface.outputs import write_outputs
from algorithm.interface.tasks import MIDOG, Socket, Task, load_task


def test_writes_each_socket(tmp_path: Path) -> None:
    written = write_outputs(tmp_path, MIDOG, {"mitotic_figures": {"points": []}})
    assert written == [tmp_path / "mitotic-figures.json"]
    assert json.loads(written[0].read_text()) == {"points": []}


def test_all_or_nothing(tmp_path: Path) -> None:
    task = Task(
        "two",
        MIDOG.slide,
        {"tumour_probability": Socket("p", "p.json", "Float"), "tumour_major_axis_um": Socket("a", "a.json", "Float")},
    )
    with pytest.raises(KitError, match="cannot write 'a'"):
        write_outputs(tmp_path, task, {"tumour_probability": 0.5, "tumour_major_axis_um": math.nan})
    assert not any(tmp_path.iterdir())
    with pytest.raises(KitError, match="produced no tumour_major_axis_um"):
        write_outputs(tmp_path, task, {"tumour_probability": 0.5})


def test_task_files(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "slide": {"slug": "s", "relative_path": "images/s", "kind": "Image"},
                "outputs": {"mitotic_figures": {"slug": "m", "relative_path": "m.json", "kind": "Multiple points"}},
            }
        )
    )
    assert load_task(path=path).outputs["mitotic_figures"].relative_path == "m.json"
    path.write_text(
        json.dumps(
            {
                "slide": {"slug": "s", "relative_path": "x", "kind": "Image"},
                "outputs": {"magic": {"slug": "m", "relative_path": "m.json", "kind": "Float"}},
            }
        )
    )
    with pytest.raises(ConfigError, match="unknown results"):
        load_task(path=path)
    with pytest.raises(ConfigError, match="unknown task"):
        load_task("nope")


def test_image_results_are_written_as_bytes(tmp_path: Path) -> None:
    from algorithm.interface.tasks import HELP

    results = {
        "tumour_probability": 0.25,
        "tumour_major_axis_um": 0.0,
        "tumour_major_axis_line": {"type": "Distance measurement"},
        "tumour_heatmap": b"MHA bytes",
    }
    written = write_outputs(tmp_path, HELP, results)
    assert (tmp_path / "images/tumour-heatmap/heatmap.mha").read_bytes() == b"MHA bytes"
    assert json.loads((tmp_path / "tumour-likelihood.json").read_text()) == 0.25
    assert len(written) == 4


def test_all_task_is_every_task() -> None:
    from algorithm.interface.tasks import ALL, HELP, NUCLEI, TASKS

    assert set(TASKS) == {"midog", "help", "nuclei", "label", "all"}
    assert ALL.outputs == {**MIDOG.outputs, **HELP.outputs, **NUCLEI.outputs} and ALL.slide == HELP.slide
    # the slugs the kit's evaluation container reads
    assert HELP.outputs["tumour_probability"].slug == "tumour-likelihood"
    assert HELP.outputs["tumour_major_axis_um"].slug == "tumour-major-axis"
