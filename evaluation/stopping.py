"""How the evaluation is stopped: Ctrl-C, or SIGTERM (``docker stop``, the platform's time limit).

SIGTERM raises :class:`Terminated` in the main thread, so it unwinds like Ctrl-C and
the command removes its outputs as for any failure: Python's default dies at once,
skipping that clean-up, and as a container's PID 1 the signal would not be
delivered at all. The algorithm's commands do the same (``algorithm/console.py``);
this copy keeps the evaluation container free of the algorithm's package.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """SIGTERM arrived (``docker stop``): unwound like Ctrl-C, so the outputs are removed as for any failure."""


# how a stopped evaluation ends: its line and exit status
STOPPED: dict[type[BaseException], tuple[str, int]] = {
    KeyboardInterrupt: ("interrupted", 130),
    Terminated: ("terminated (SIGTERM)", 143),
}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def stopping_on_sigterm() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread inside the block (Python's default dies at once, skipping
    the clean-up; as a container's PID 1 it would not be delivered at all)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
