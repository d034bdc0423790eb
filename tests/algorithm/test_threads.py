"""The commands make torch's OpenMP threads sleep while they wait, unless the environment says how."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

# what the environment says at the moment torch is first imported (when libgomp would read it)
ENTRY = """
import os, runpy, sys
seen = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append((os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT")))
sys.meta_path.insert(0, Watch())
sys.argv = ["algorithm", "--version"]
try:
    runpy.run_module("algorithm", run_name="__main__")
except SystemExit:
    pass
import torch
print(seen[0])
"""


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_python_m_algorithm_sets_sleeping_waits_before_torch_loads() -> None:
    assert _python(ENTRY) == "('PASSIVE', None)"
    # the user's choice stands, either variable
    assert _python(ENTRY, OMP_WAIT_POLICY="ACTIVE") == "('ACTIVE', None)"
    assert _python(ENTRY, GOMP_SPINCOUNT="2000") == "(None, '2000')"


def test_too_late_once_torch_is_loaded_and_the_cohort_passes_it_on() -> None:
    late = "import torch, os\nfrom algorithm.threads import sleeping_waits\nsleeping_waits()\n"
    assert _python(late + "print(os.environ.get('OMP_WAIT_POLICY'))") == "None"  # no pretence of an effect
    workers = "from algorithm.threads import wait_environment\nprint(wait_environment())"
    assert _python(workers) == "{'OMP_WAIT_POLICY': 'PASSIVE'}"
    assert _python(workers, GOMP_SPINCOUNT="2000") == "{'GOMP_SPINCOUNT': '2000'}"
