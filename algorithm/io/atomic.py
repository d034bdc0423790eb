"""Atomic file writes: a reader never sees a half-written output.

Write to a temporary file in the destination folder, flush it to disk, then
``os.replace`` it over the destination (atomic on POSIX within one file system).
On any error the temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    ``suffix`` ends the temporary name (writers that pick a format by extension need it).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=suffix, dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(destination: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``destination`` whole or not at all (see :func:`atomic_path`)."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(destination: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Serialise ``obj`` first (so a bad value fails before anything is written), then write."""
    text = json.dumps(obj, indent=indent, allow_nan=False)
    write_bytes_atomic(destination, (text + "\n").encode())
