from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.errors import ConfigError
from algorithm.interface.sockets import REGION_OF_INTEREST
from algorithm.interface.tasks import ALL, HELP, MIDOG, NUCLEI, RESULTS, load_task, load_tasks


def test_one_or_several_tasks() -> None:
    assert load_tasks("midog") == (MIDOG,)
    assert load_tasks("midog, help") == (MIDOG, HELP)


def test_tasks_must_take_different_input_sockets() -> None:
    with pytest.raises(ConfigError, match="tasks 'help' and 'all' both take input socket 'whole-slide-image'"):
        load_tasks("help,all")
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        load_tasks("midog,nope")


def test_a_task_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    socket = {"slug": "mitotic-figures", "relative_path": "mitotic-figures.json", "kind": "Multiple points"}
    task = {
        "slide": {"slug": "s", "relative_path": "images/s", "kind": "Image"},
        "outputs": {"mitotic_figures": socket},
    }
    path.write_text(json.dumps(task))
    assert load_task(path=path).outputs["mitotic_figures"].slug == "mitotic-figures"
    path.write_text(json.dumps({**task, "ouputs": {}}))
    with pytest.raises(ConfigError, match=r"task\.json: unknown key\(s\) \['ouputs'\]"):
        load_task(path=path)


def test_the_nuclei_task_reads_the_roi_and_writes_the_evaluations_segmentation_socket() -> None:
    task = load_task("nuclei")
    assert task is NUCLEI and task.slide == REGION_OF_INTEREST == MIDOG.slide
    socket = task.outputs["nuclei_mask"]
    assert (socket.slug, socket.kind, socket.unit) == ("nuclei-segmentation", "Segmentation", None)
    assert socket.relative_path == "images/nuclei-segmentation/nuclei.mha"
    assert RESULTS["nuclei_mask"] == "Segmentation"
    assert ALL.outputs["nuclei_mask"] == socket
    with pytest.raises(ConfigError, match="tasks 'midog' and 'nuclei' both take input socket"):
        load_tasks("midog,nuclei")
    assert load_tasks("help,nuclei") == (HELP, NUCLEI)


def test_a_task_file_may_write_the_nuclei_mask_to_its_own_socket(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    socket = {"slug": "nuclei", "relative_path": "images/nuclei/mask.mha", "kind": "Segmentation"}
    slide = {"slug": "s", "relative_path": "images/s", "kind": "Image"}
    path.write_text(json.dumps({"slide": slide, "outputs": {"nuclei_mask": socket}}))
    assert load_task(path=path).outputs["nuclei_mask"].relative_path == "images/nuclei/mask.mha"
    path.write_text(json.dumps({"slide": slide, "outputs": {"nuclei_mask": {**socket, "unit": "mm"}}}))
    with pytest.raises(
        ConfigError, match="outputs.nuclei_mask: unit 'mm', but the pipeline writes nuclei_mask in no unit"
    ):
        load_task(path=path)
