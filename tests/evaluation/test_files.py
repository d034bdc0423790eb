"""Strict JSON reading and atomic writing."""

from __future__ import annotations

import json
import os

import pytest

from evaluation.errors import EvaluationError
from evaluation.files import read_json, write_json_atomic


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("[Infinity]", "Infinity is not valid JSON"),
        ('{"a": 1,}', "invalid JSON at line 1 column 9"),
        ("", "invalid JSON at line 1 column 1"),
    ],
)
def test_read_json_rejects_non_json(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(EvaluationError, match="^out.json: ") as err:
        read_json(path, "out.json")
    assert message in str(err.value)


def test_read_json_missing_and_directory(tmp_path):
    with pytest.raises(EvaluationError, match="file not found"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(EvaluationError, match="is a directory"):
        read_json(tmp_path)


def test_atomic_write_replaces_and_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    with pytest.raises(ValueError):
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(os.listdir(path.parent)) == ["metrics.json"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
