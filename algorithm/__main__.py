"""``python -m algorithm``: the container's entrypoint (see ``algorithm.cli`` for the options)."""

import sys

from algorithm.cli import main
from algorithm.console import run_main

sys.exit(run_main(main))
