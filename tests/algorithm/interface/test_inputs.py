from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.errors import ConfigError, KitError
from algorithm.interface.inputs import find_input
from algorithm.interface.tasks import MIDOG


def _slide(folder: Path, name: str = "a.tif") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"II*\x00")
    return path


def _inputs_json(root: Path, slug: str, relative_path: str) -> None:
    entry = {
        "interface": {"slug": slug, "relative_path": relative_path, "kind": "Image"},
        "image": {"name": "case-7.tif"},
        "value": None,
        "file": None,
    }
    (root / "inputs.json").write_text(json.dumps([entry]))


def test_inputs_json_socket(tmp_path: Path) -> None:
    slide = _slide(tmp_path / MIDOG.slide.relative_path, "0f3a.tif")
    _inputs_json(tmp_path, MIDOG.slide.slug, MIDOG.slide.relative_path)
    found = find_input(tmp_path, MIDOG)
    assert found.slide == slide and found.name == "case-7.tif"


def test_unknown_socket_is_named(tmp_path: Path) -> None:
    _slide(tmp_path / "images/other")
    _inputs_json(tmp_path, "ct-image", "images/other")
    with pytest.raises(ConfigError, match=r"inputs\.json: unknown input socket 'ct-image'"):
        find_input(tmp_path, MIDOG)


def test_legacy_layout_and_plain_file(tmp_path: Path) -> None:
    slide = _slide(tmp_path / "images" / "whatever")
    assert find_input(tmp_path, MIDOG).slide == slide
    assert find_input(slide, MIDOG).slide == slide


def test_two_images_or_none(tmp_path: Path) -> None:
    folder = tmp_path / MIDOG.slide.relative_path
    folder.mkdir(parents=True)
    with pytest.raises(KitError, match="no image file"):
        find_input(tmp_path, MIDOG)
    _slide(folder, "a.tif")
    _slide(folder, "b.tif")
    with pytest.raises(KitError, match="2 images"):
        find_input(tmp_path, MIDOG)


def test_bad_inputs_json(tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        find_input(tmp_path, MIDOG)
    (tmp_path / "inputs.json").write_text("{}")
    with pytest.raises(ConfigError, match="expected a list"):
        find_input(tmp_path, MIDOG)


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="input not found"):
        find_input(tmp_path / "nope", MIDOG)
    with pytest.raises(KitError, match="no inputs.json"):
        find_input(tmp_path, MIDOG)


def _dicom_marked(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)  # what marks a DICOM file (its preamble)
    return path


def test_a_dicom_series_folder_is_the_slide(tmp_path: Path) -> None:
    folder = tmp_path / MIDOG.slide.relative_path
    _dicom_marked(folder / "1.2.840.1")  # exports often drop the suffix
    _dicom_marked(folder / "1.2.840.2.dcm")
    (folder / "DICOMDIR.txt").write_text("index")
    assert find_input(tmp_path, MIDOG).slide == folder
    single = tmp_path / "single" / "images" / "x"
    one = _dicom_marked(single / "slide.dcm")
    assert find_input(single.parents[1], MIDOG).slide == one  # one .dcm file: that file
    _slide(folder, "other.tif")
    with pytest.raises(KitError, match=r"a DICOM series and other images \(other\.tif\)"):
        find_input(tmp_path, MIDOG)


def test_choose_task_by_the_socket_the_inputs_fill(tmp_path: Path) -> None:
    from algorithm.interface.inputs import choose_task
    from algorithm.interface.tasks import HELP

    assert choose_task(tmp_path / "anything", (MIDOG,)) is MIDOG  # one task: no questions asked
    tasks = (MIDOG, HELP)
    for task in tasks:
        root = tmp_path / task.name
        _slide(root / task.slide.relative_path)
        _inputs_json(root, task.slide.slug, task.slide.relative_path)
        assert choose_task(root, tasks) is task
    legacy = tmp_path / "legacy"
    _slide(legacy / HELP.slide.relative_path)
    assert choose_task(legacy, tasks) is HELP


def test_choose_task_refuses_inputs_of_no_task(tmp_path: Path) -> None:
    from algorithm.interface.inputs import choose_task
    from algorithm.interface.tasks import HELP

    _slide(tmp_path / "images/other")
    _inputs_json(tmp_path, "ct-image", "images/other")
    with pytest.raises(ConfigError, match=r"inputs\.json: unknown input socket 'ct-image'; tasks midog, help take"):
        choose_task(tmp_path, (MIDOG, HELP))
    with pytest.raises(KitError, match="cannot tell which task"):
        choose_task(_slide(tmp_path / "plain"), (MIDOG, HELP))
    with pytest.raises(KitError, match="input not found"):
        choose_task(tmp_path / "missing", (MIDOG, HELP))
