"""``python -m training``: see :mod:`training.cli`."""

from algorithm.threads import sleeping_waits

sleeping_waits()  # before torch loads (algorithm/threads.py)

from training.cli import main  # noqa: E402

raise SystemExit(main())
