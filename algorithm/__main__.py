"""``python -m algorithm``: the container's entrypoint (see ``algorithm.cli`` for the options)."""

import sys

from algorithm.threads import sleeping_waits

sleeping_waits()  # before torch loads (algorithm/threads.py)

from algorithm.cli import main  # noqa: E402
from algorithm.console import run_main  # noqa: E402

sys.exit(run_main(main))
