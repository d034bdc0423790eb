"""``python -m training``: see :mod:`training.cli`."""

from algorithm.threads import sleeping_waits

sleeping_waits()  # before torch loads (algorithm/threads.py)

from algorithm.console import run_main  # noqa: E402


def main(argv: list[str] | None) -> int:
    """The commands, imported inside ``run_main`` so that a Ctrl-C or SIGTERM while they load is one line too."""
    from training.cli import main as command_line

    return command_line(argv)


raise SystemExit(run_main(main))
