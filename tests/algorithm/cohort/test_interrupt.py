"""Ctrl-C stops a cohort cleanly: finished slides kept and listed, nothing half-written, exit status 130."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

from algorithm.cohort.layout import PARTIAL, ROW_FILE, CohortLayout
from algorithm.interface.tasks import MIDOG
from tests.conftest import REPO


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(cohort_slides: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "slides"
    folder.mkdir()
    for slide in cohort_slides:
        (folder / slide.name).symlink_to(slide)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "algorithm", "cohort", "--input", str(folder), "--output", str(out)]
    run = subprocess.Popen(
        [*command, "--workers", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Ctrl-C's default action, whatever this process inherited: a child inherits an ignored SIGINT (as
        # when the suite runs in a background job, or after a library set it), and would then finish the cohort
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not list(out.glob(f"*/{ROW_FILE}")):  # the first slide is done
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    stdout, stderr = (text.decode() for text in run.communicate(timeout=120))
    assert run.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    with (out / "cohort.csv").open(newline="") as file:
        statuses = [row["status"] for row in csv.DictReader(file)]
    assert statuses[0] == "done" and "not run" in statuses and "failed" not in statuses, stdout
    assert not (out / PARTIAL).exists()
    layout = CohortLayout(out)
    for slide in cohort_slides:  # a slide's folder is complete or absent
        assert layout.is_complete(slide.stem, MIDOG, qc=False) or not layout.slide_dir(slide.stem).exists()
    again = subprocess.run([*command, "--workers", "2"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{statuses.count('done')} skipped (already complete)" in again.stdout
