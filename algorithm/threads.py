"""torch's CPU threads sleep while they wait: set by the kit's commands before torch is imported.

libgomp (torch's OpenMP on Linux) keeps a thread that waits at an operator's
barrier spinning for 300,000 turns before it sleeps. Alone on a machine that
saves a wake-up per operator; beside anything else (a laptop, a shared CI
runner, a cohort's other workers) a spinning thread holds the core that the
thread it waits for needs, and each barrier waits out a scheduler's time
slice: the container's test case took 17-19 s instead of 2.7 s on 2 cores
beside another job. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``, standard
OpenMP, so any runtime honours it) mends that: the models 0.54x the time beside
one busy process, 1.07-1.14x alone, within this machine's noise of libgomp's
own 2,000-turn spin (``GOMP_SPINCOUNT``), which did less well under load
(``benchmarks/bench_wait_policy.py``). Either variable already in the
environment is left as it is.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY = "PASSIVE"
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def sleeping_waits() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` for this process and its children, unless the environment sets how OpenMP
    threads wait. Only effective before torch is imported (libgomp reads it when it loads), hence called
    first by the commands' ``__main__``."""
    if "torch" not in sys.modules:
        os.environ.update(wait_environment())


def wait_environment() -> dict[str, str]:
    """How OpenMP threads wait, for this process or one it starts (a cohort's Ray workers): the environment's
    own settings, else the kit's policy."""
    own = {name: os.environ[name] for name in WAIT_VARIABLES if name in os.environ}
    return own or {"OMP_WAIT_POLICY": WAIT_POLICY}
