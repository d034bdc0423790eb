from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.errors import ConfigError
from algorithm.interface.tasks import HELP, MIDOG, load_task, load_tasks


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
