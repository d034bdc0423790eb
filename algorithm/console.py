"""What every command line of the kit shares: one-line errors, progress bars.

A user sees ``error: <file>: <problem>`` and exit status 1 for a KitError, never
a third-party traceback; ``--debug`` (or KIT_DEBUG=1) shows the traceback too.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from algorithm.errors import KitError

T = TypeVar("T")


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main`` and turn failures into one line on stderr and an exit status."""
    debug = os.environ.get("KIT_DEBUG") == "1" or "--debug" in (argv if argv is not None else sys.argv)
    try:
        return main(argv)
    except KitError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory (try a smaller batch or tile size)", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if debug:
            traceback.print_exc()
        print(f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback",
              file=sys.stderr)
        return 1


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """A progress bar on a terminal (stderr); silent when stderr is not one, e.g. in CI logs."""
    disable = not sys.stderr.isatty() and os.environ.get("KIT_PROGRESS") != "1"
    return iter(tqdm(items, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False))
