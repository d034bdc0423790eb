"""The container's boundaries: no torch or `algorithm` imports, pinned requirements, sane scripts.

The image itself is built and run by ``evaluation/test.sh`` (needs Docker);
these checks need no Docker.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "evaluation"
# Third-party imports the package may use, and the distributions providing them.
ALLOWED = {
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "SimpleITK": "SimpleITK",
    "grand_challenge_metrics": "grand-challenge-metrics",
    "matplotlib": "matplotlib",  # the plots only, imported when asked for (tests/evaluation/test_plots.py)
}


def _modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "test" not in p.relative_to(PACKAGE).parts]


def test_imports_are_stdlib_or_the_light_requirements():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED or top == "evaluation", (
                    f"{path}: imports {name}"
                )


def test_running_imports_neither_torch_nor_algorithm():
    code = (
        "import sys, evaluation.cli, evaluation.evaluate, evaluation.compare_metrics; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'algorithm', 'training')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def _pins() -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in (PACKAGE / "requirements.txt").read_text().splitlines()]
    return dict(ln.split("==") for ln in lines if ln)


def test_requirements_are_pinned_and_cover_the_imports():
    pins = _pins()
    assert all(v for v in pins.values())
    assert set(ALLOWED.values()) <= set(pins)
    assert "torch" not in pins


def test_the_image_has_the_plotting_library_and_its_dependencies():
    """The image installs requirements.txt only: matplotlib's whole runtime closure must be pinned there."""
    from packaging.requirements import Requirement

    pins = {name.lower(): version for name, version in _pins().items()}
    assert pins["matplotlib"] == importlib.metadata.version("matplotlib")  # the version the tests ran
    todo, seen = ["matplotlib"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(re.sub(r"[-_.]+", "-", requirement.name).lower())
    assert seen <= set(pins), sorted(seen - set(pins))
    dockerfile = (PACKAGE / "Dockerfile").read_text()
    assert "matplotlib.figure" in dockerfile  # the build's import check
    assert "MPLCONFIGDIR=/tmp/matplotlib" in dockerfile  # its font cache on a read-only root file system


SCRIPTS = ["build.sh", "test.sh", "export.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_explain_themselves(script):
    path = PACKAGE / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, timeout=30).returncode == 0
    run = subprocess.run(["bash", str(path), "--help"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and "Usage:" in run.stdout


@pytest.mark.parametrize(
    "script,args,message",
    [
        ("build.sh", ["--offline", "maybe"], "--offline must be auto, 1 or 0"),
        ("build.sh", ["--bogus"], "unknown argument '--bogus'"),
        ("test.sh", ["--bogus"], "unknown argument '--bogus'"),
        ("export.sh", ["--bogus"], "unknown argument '--bogus'"),
    ],
)
def test_scripts_reject_bad_arguments(script, args, message):
    run = subprocess.run(["bash", str(PACKAGE / script), *args], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and message in run.stderr


def test_dockerfile_conventions():
    text = (PACKAGE / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("FROM --platform=linux/amd64 ${BASE_IMAGE}") == 2
    assert "python3 -m venv /opt/venv" in text  # a bare Debian base has python3, not python
    assert "--no-index --find-links /tmp/build/wheelhouse" in text
    assert "USER evaluator" in text and "WORKDIR /opt/app" in text
    assert 'ENTRYPOINT ["/opt/venv/bin/python", "-m", "evaluation"]' in text
    run_flags = (PACKAGE / "test.sh").read_text()
    for flag in (
        "--network none",
        "--memory",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        ":/input:ro",
        "/opt/ml/input/data/ground_truth:ro",
    ):
        assert flag in run_flags
