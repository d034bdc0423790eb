"""The comparison behind test.sh, as a function and as a standard-library-only script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.compare_metrics import compare, main

SCRIPT = Path(__file__).resolve().parents[2] / "evaluation" / "compare_metrics.py"
EXPECTED = {
    "results": [{"case": "001", "f1": 0.5, "ok": True, "n": 3}],
    "aggregates": {"auc": 0.8, "ci": [0.6, 1.0], "missing": None, "version": "1.0.0"},
}


def changed(**agg):
    doc = json.loads(json.dumps(EXPECTED))
    doc["aggregates"].update(agg)
    return doc


def test_equal_and_within_tolerance():
    assert compare(EXPECTED, EXPECTED) == []
    assert compare(EXPECTED, changed(auc=0.8 + 1e-9)) == []
    assert compare({"x": 3}, {"x": 3.0}) == []  # numbers compare as numbers


@pytest.mark.parametrize(
    "actual,fragment",
    [
        (changed(auc=0.81), "aggregates.auc: expected 0.8, got 0.81"),
        (changed(ci=[0.6]), "aggregates.ci: expected a list of 2 items, got 1"),
        (changed(missing=0.0), "aggregates.missing: expected null, got 0.0"),
        (changed(extra=1), "aggregates.extra: not expected"),
        (changed(version="1.0.1"), 'aggregates.version: expected "1.0.0", got "1.0.1"'),
        ({"results": EXPECTED["results"]}, "aggregates: missing in actual"),
        (
            {"results": [{"case": "001", "f1": 0.5, "ok": 1, "n": 3}], "aggregates": EXPECTED["aggregates"]},
            "results.0.ok: expected true, got 1",
        ),
    ],
)
def test_differences_are_reported_with_their_path(actual, fragment):
    differences = compare(EXPECTED, actual)
    assert any(fragment in d for d in differences), differences


def test_tolerances_and_ignore():
    assert compare({"a": 1.0}, {"a": 1.001}, rtol=1e-2) == []
    assert compare({"a": 1.0}, {"a": 1.001}, rtol=0, atol=1e-2) == []
    assert compare({"a": 1.0}, {"a": 1.001}, rtol=0, atol=1e-4) != []
    assert compare(EXPECTED, changed(version="2"), ignore=frozenset({"aggregates.version"})) == []


def test_main_exit_codes(tmp_path, capsys):
    exp, act = tmp_path / "e.json", tmp_path / "a.json"
    exp.write_text(json.dumps(EXPECTED))
    act.write_text(json.dumps(EXPECTED))
    assert main([str(exp), str(act)]) == 0 and capsys.readouterr().out.startswith("PASS")
    act.write_text(json.dumps(changed(auc=0.9)))
    assert main([str(exp), str(act)]) == 1 and capsys.readouterr().out.startswith("FAIL")
    assert main([str(exp), str(tmp_path / "none.json")]) == 2


def test_script_runs_with_the_standard_library_only(tmp_path):
    exp, act = tmp_path / "e.json", tmp_path / "a.json"
    exp.write_text(json.dumps(EXPECTED))
    act.write_text(json.dumps(changed(auc=0.9)))
    # -S: no site-packages (numpy etc. unavailable), -I: isolated from the environment.
    run = subprocess.run(
        [sys.executable, "-S", "-I", str(SCRIPT), str(exp), str(act)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1, run.stderr
    assert "aggregates.auc: expected 0.8, got 0.9" in run.stdout
