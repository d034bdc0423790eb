"""test/own_model.py: the bundled networks re-saved as program checkpoints, as test.sh's check 10 makes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from algorithm.models import load_detector, load_nuclei_segmenter, load_patch_classifier, load_segmenter
from tests.conftest import REPO


def test_the_four_networks_are_re_saved_as_programs_that_load(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, str(REPO / "test" / "own_model.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 4  # one line per network written
    formats = {}
    for name, loader in (
        ("detector.pt", load_detector),
        ("segmenter.pt", load_segmenter),
        ("nuclei.pt", load_nuclei_segmenter),
        ("patch_classifier.pt", load_patch_classifier),
    ):
        _, _, checkpoint = loader(tmp_path / name)
        formats[name] = checkpoint["program_format"]
    assert formats == {
        "detector.pt": "torchscript",
        "segmenter.pt": "export",
        "nuclei.pt": "export",
        "patch_classifier.pt": "export",
    }
    assert {p.name for p in tmp_path.iterdir()} >= {"slide_model.joblib", "label_model.joblib"}
