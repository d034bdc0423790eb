"""What every command line of the kit shares: one-line errors, progress bars, logging.

A user sees ``error: <file>: <problem>`` and exit status 1 for a KitError, never
a third-party traceback; ``--debug`` (or KIT_DEBUG=1) shows the traceback too.
SIGTERM (``docker stop``, a scheduler's stop, ``kill``) unwinds like Ctrl-C: without
a handler Python dies at once and skips every clean-up (half-written ``.part``
files and a job's partial outputs stayed), and as a container's PID 1 it is not
delivered at all (the kernel drops a signal PID 1 has no handler for).

The library logs (``logging.getLogger(__name__)`` in its modules: summaries at
INFO, problems it works around at WARNING) and sets up no handler: a program
that imports it decides what to show. The command lines call
:func:`configure_logging`: one handler on stderr, INFO by default, WARNING with
``--quiet``, DEBUG with ``--debug``.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

from tqdm import tqdm

from algorithm.errors import KitError

T = TypeVar("T")


class Terminated(BaseException):
    """SIGTERM arrived; raised in the main thread and unwound like KeyboardInterrupt (so every ``finally``
    and ``except BaseException`` clean-up runs), exit status 143."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def stopping_on_sigterm() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` in the main thread (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def require_temporary_folder() -> None:
    """KitError unless a temporary folder can be written: torch's import makes one, and without it failed with
    "internal error (FileNotFoundError: No usable temporary directory ...)" (a read-only root file system
    with no tmpfs at /tmp)."""
    try:
        tempfile.gettempdir()
    except FileNotFoundError as exc:
        raise KitError(
            "no writable temporary folder (/tmp, or the one TMPDIR names): on a read-only root file system give "
            "the container a tmpfs there (docker run --tmpfs /tmp), as grand-challenge does"
        ) from exc


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line a user sees for a failure, and the exit status it means.

    Shared by the command line and the invoke server, so a job fails with the
    same words whichever way grand-challenge runs it.
    """
    if isinstance(exc, KitError):
        return f"error: {exc}", 1
    if isinstance(exc, KeyboardInterrupt):
        return "error: interrupted", 130
    if isinstance(exc, Terminated):
        return "error: terminated (SIGTERM)", 143
    if isinstance(exc, MemoryError):
        return "error: out of memory (try a smaller batch or tile size)", 1
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno == errno.ENOSPC):
        return f"error: {os_problem(exc)}", 1
    return (f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback", 1)


def os_problem(exc: OSError) -> str:
    """The file and what the system said of it (``/in/slide.svs: permission denied``): a file the process may
    not read, a full disk, a folder where a file was expected are the user's to mend, not the kit's bugs."""
    reason = (exc.strerror or str(exc)).lower()
    name = exc.filename
    if name is None:
        return reason
    return f"{os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else name}: {reason}"


LOGGERS = ("algorithm", "training")


class _StderrHandler(logging.Handler):
    """Writes each record to the ``sys.stderr`` of the moment (so redirections, and pytest's capture,
    see it); warnings and worse prefixed with their level, as the error lines are."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                message = f"{record.levelname.lower()}: {message}"
            print(message, file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging's own contract: never raise from a handler
            self.handleError(record)


def configure_logging(quiet: bool = False, debug: bool = False) -> None:
    """The command lines' logging: the kit's loggers to stderr, INFO (``quiet``: WARNING; ``debug``: DEBUG)."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(handler)
        logger.addHandler(_StderrHandler())
        logger.setLevel(level)
        logger.propagate = False


def debugging(argv: list[str] | None = None) -> bool:
    """--debug on the command line or KIT_DEBUG=1: show tracebacks too."""
    return os.environ.get("KIT_DEBUG") == "1" or "--debug" in (argv if argv is not None else sys.argv)


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main`` and turn failures into one line on stderr and an exit status."""
    debug = debugging(argv)
    try:
        with stopping_on_sigterm():
            return main(argv)
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        line, status = error_line(exc)
        # a bug or a KitError: the traceback with --debug (never for ^C, SIGTERM or memory)
        if debug and not isinstance(exc, (KeyboardInterrupt, Terminated, MemoryError)):
            traceback.print_exc()
        print(line, file=sys.stderr)
        return status


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """A progress bar on a terminal (stderr); silent when stderr is not one, e.g. in CI logs."""
    disable = not sys.stderr.isatty() and os.environ.get("KIT_PROGRESS") != "1"
    return iter(tqdm(items, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False))
