from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from algorithm.io.atomic import atomic_path, write_json_atomic


def test_json_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    write_json_atomic(target, {"a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_failure_leaves_nothing_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_unserialisable_value_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"f1": math.nan})
    assert not any(tmp_path.iterdir())
