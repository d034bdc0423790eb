"""Third-party chatter hidden only while the kit itself reads a slide, never for the whole process.

tifffile logs what it finds odd in a file, and pydicom logs and warns about
non-conformant values (over-long strings, a JFIF marker under Photometric
Interpretation RGB). The readers raise one SlideError about what matters, so
those messages are noise while they read; but a program that uses the kit may
use tifffile or pydicom itself, and its own messages, its logging levels and
its warning filters stay as it set them.

Logging: a filter on the library's loggers drops records below the library's
threshold (:data:`HIDDEN_BELOW`) made in a thread inside :func:`quiet` (a
thread-local count), and lets every other record through. Warnings: Python's
filters are process-wide, so :func:`quiet` with ``hide_warnings=True`` adds one
filter for the library's ``UserWarning`` while at least one thread is inside it
(counted under a lock) and removes that same filter when the last leaves;
nothing else in ``warnings.filters`` is touched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# per library, the level from which its records are shown even inside quiet(): tifffile logs a damaged file's
# findings as errors, and the reader raises one SlideError about them instead
HIDDEN_BELOW = {"tifffile": logging.CRITICAL, "pydicom": logging.ERROR}

_local = threading.local()
_lock = threading.Lock()
_filtered: set[str] = set()  # names of the loggers carrying the filter
_seen: dict[str, int] = {}  # library -> size of logging's registry when its loggers were last looked for
_warning_users: dict[str, int] = {}  # library -> threads inside quiet(..., hide_warnings=True)
_warning_filters: dict[str, tuple[object, ...]] = {}  # library -> the entry added to warnings.filters


class _InsideKitReads(logging.Filter):
    """Drops records below :data:`HIDDEN_BELOW` made in a thread inside :func:`quiet` for this library."""

    def __init__(self, library: str) -> None:
        super().__init__()
        self.library = library
        self.below = HIDDEN_BELOW.get(library, logging.ERROR)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.below or not _depth(self.library)


def _depth(library: str) -> int:
    return int(getattr(_local, library, 0))


def _install_log_filter(library: str) -> None:
    """The filter on the library's logger and on every logger below it (``pydicom.pixels.decoders.base``):
    a record made on a child logger passes its parents' handlers but not their filters. Loggers made since
    the last look (a module imported later) are found when the registry has grown."""
    registry = logging.Logger.manager.loggerDict
    if _seen.get(library) == len(registry):
        return
    with _lock:
        logging.getLogger(library)  # the library's own, even before it logs
        for name in list(registry):
            logger = registry[name]
            ours = name == library or name.startswith(library + ".")
            if ours and isinstance(logger, logging.Logger) and name not in _filtered:
                logger.addFilter(_InsideKitReads(library))
                _filtered.add(name)
        _seen[library] = len(registry)


@contextmanager
def quiet(library: str, hide_warnings: bool = False) -> Iterator[None]:
    """Hide ``library``'s log records (below :data:`HIDDEN_BELOW`) made in this thread while inside; with
    ``hide_warnings``, also its ``UserWarning``s (in any thread, while any thread is inside: the warnings
    machinery has no per-thread filters). ``library`` is the top-level module name ("tifffile", "pydicom"),
    the name of the loggers it logs to."""
    _install_log_filter(library)
    setattr(_local, library, _depth(library) + 1)
    if hide_warnings:
        _hide_warnings(library)
    try:
        yield
    finally:
        if hide_warnings:
            _show_warnings(library)
        setattr(_local, library, _depth(library) - 1)


def _hide_warnings(library: str) -> None:
    with _lock:
        users = _warning_users.get(library, 0)
        if users == 0:
            warnings.filterwarnings("ignore", category=UserWarning, module=rf"{library}(\.|$)")
            _warning_filters[library] = warnings.filters[0]
        _warning_users[library] = users + 1


def _show_warnings(library: str) -> None:
    with _lock:
        users = _warning_users[library] - 1
        _warning_users[library] = users
        if users == 0:
            entry = _warning_filters.pop(library)
            # gone already where the filters were reset meanwhile (catch_warnings, resetwarnings)
            with contextlib.suppress(ValueError):
                warnings.filters.remove(entry)  # type: ignore[attr-defined]  # a list at run time
            mutated = getattr(warnings, "_filters_mutated", None)  # what filterwarnings calls after a change
            if mutated is not None:
                mutated()
