"""``python -m algorithm``: the container's entrypoint (see ``algorithm.cli`` for the options)."""

import sys

from algorithm.threads import sleeping_waits

sleeping_waits()  # before torch loads (algorithm/threads.py)

from algorithm.console import require_temporary_folder, run_main  # noqa: E402


def main(argv: list[str] | None) -> int:
    """The command line, imported inside ``run_main`` so that a Ctrl-C or SIGTERM while torch loads (a second
    or two) is one line too, and so is a missing temporary folder (torch's import needs one)."""
    require_temporary_folder()
    from algorithm.cli import main as command_line

    return command_line(argv)


sys.exit(run_main(main))
