"""What the system lets the process read: a file or folder it may not is one KitError naming it.

Without these checks the readers' own wrappers blamed the file (a model "not a
file torch.save wrote", crops "not a TIFF stack") for the system's refusal, and
``Path.glob`` / ``Path.rglob`` pass over a folder the process may not read as if
it were empty: a cohort silently lost the slides of such a subfolder, and an
unreadable slide folder was reported as holding no slides.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from algorithm.errors import KitError


def readable_file(path: str | os.PathLike[str], error: type[KitError] = KitError) -> Path:
    """``path``, or ``error`` when it is a file the process may not read; a path that is no file is left to the
    caller's own words ("not found", "is a folder")."""
    path = Path(path)
    if path.is_file() and not os.access(path, os.R_OK):
        raise error(f"{path}: cannot be read: permission denied")
    return path


def readable_folder(folder: Path, error: type[KitError] = KitError) -> Path:
    """``folder``, or ``error`` when the process may not list it."""
    if not os.access(folder, os.R_OK | os.X_OK):
        raise error(f"{folder}: cannot be read: permission denied")
    return folder


def files_under(folder: Path, wanted: tuple[str, ...] = ()) -> Iterator[Path]:
    """Every file under ``folder``, recursively (symbolic links to folders followed, as ``rglob`` does, each
    folder once: a link back up would list the same files again and again); KitError naming the first folder
    on the way that cannot be listed, or a link named with one of the ``wanted`` suffixes (lower case) that
    leads nowhere (skipping it would lose a slide without a word)."""

    def refuse(error: OSError) -> None:
        reason = (error.strerror or str(error)).lower()
        raise KitError(f"{error.filename or folder}: cannot be read: {reason}") from error

    readable_folder(folder)
    seen = {_identity(folder)}
    for root, folders, names in os.walk(folder, onerror=refuse, followlinks=True):
        kept = []
        for name in folders:
            identity = _identity(Path(root) / name)
            if identity is None or identity not in seen:
                seen.add(identity)
                kept.append(name)
        folders[:] = kept  # os.walk descends into these only
        for name in names:
            path = Path(root) / name
            if path.is_file():
                yield path
            elif name.lower().endswith(wanted) and wanted and path.is_symlink() and not path.exists():
                raise KitError(f"{path}: a link to {os.readlink(path)}, which does not exist")


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder a path leads to, links followed (device and inode); None when it cannot be looked at (the
    walk's own listing then reports it)."""
    try:
        status = folder.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino
