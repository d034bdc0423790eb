"""Atomic file writes: a reader never sees a half-written output.

Write to a temporary file in the destination folder, flush it to disk, then
``os.replace`` it over the destination (atomic on POSIX within one file system).
On any error the temporary file is removed and the destination is untouched.

What the system refuses while writing (a folder the process may not write in, a
full disk, a read-only file system) is one :class:`~algorithm.errors.OutputError`
naming the destination, not the hidden temporary file; so is a full disk that a
writer reports in its own words (torch's ``unexpected pos`` when its archive
writer runs out of room). A destination that is not a regular file (a folder, a
device such as ``/dev/full``, a pipe) is refused before anything is written:
renaming over it would replace the device with a file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from algorithm.errors import KitError, OutputError

# errors that are about the destination's disk whichever file a writer names in them
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
# a writer's failure with less room than this left on the destination's disk is taken for a full disk
FULL_BELOW = 1 << 20


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str], suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    ``suffix`` ends the temporary name (writers that pick a format by extension need it).
    """
    destination = Path(destination)
    _check_replaceable(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=suffix, dir=destination.parent)
    except OSError as exc:
        raise _refused(destination, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except Exception as exc:
        full = _nearly_full(destination.parent)  # before the partial file is removed, which frees its room
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.errno in DISK_ERRORS or exc.filename in (None, str(tmp))):
            raise _refused(destination, exc) from exc
        if full and not isinstance(exc, (OSError, KitError)):  # a writer's own words for a full disk
            raise OutputError(f"{destination}: cannot be written: no space left on device") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_replaceable(destination: Path) -> None:
    """Refuse a destination that exists and is not a regular file (a rename would replace it)."""
    try:
        mode = destination.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _refused(destination, exc) from exc
    if stat.S_ISDIR(mode):
        raise OutputError(f"{destination}: is a folder; the output is a file")
    if not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
        raise OutputError(f"{destination}: is not a regular file (a device, a pipe or a socket); name a file")


def _refused(destination: Path, exc: OSError) -> OutputError:
    reason = (exc.strerror or str(exc)).lower()
    return OutputError(f"{destination}: cannot be written: {reason}")


def _nearly_full(folder: Path) -> bool:
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return False
    return vfs.f_bavail * vfs.f_frsize < FULL_BELOW


@contextlib.contextmanager
def all_or_nothing() -> Iterator[list[Path]]:
    """A set of outputs whole or absent: the paths added to the yielded list are removed if the block fails."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(destination: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``destination`` whole or not at all (see :func:`atomic_path`)."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(destination: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Serialise ``obj`` first (so a bad value fails before anything is written), then write."""
    text = json.dumps(obj, indent=indent, allow_nan=False)
    write_bytes_atomic(destination, (text + "\n").encode())
