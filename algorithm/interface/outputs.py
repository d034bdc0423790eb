"""Writing results to their output sockets, all or nothing.

JSON values are serialised (images arrive as file bytes) first, then each file is written atomically; if any
step fails, files already written by this job are removed, and the folders it made for them, so a failed job
leaves no partial output behind. Where the outputs go is checked before the job's work
(:func:`check_writable`): a folder the process may not write in fails in a second, not after the slide.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from algorithm.errors import KitError, OutputError
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_bytes_atomic


def write_outputs(root: Path, task: Task, results: dict[str, Any]) -> list[Path]:
    """Write each of the task's outputs from ``results``; return the paths written."""
    missing = sorted(set(task.outputs) - set(results))
    if missing:
        raise KitError(f"the pipeline produced no {', '.join(missing)} for this task")
    payloads = {}
    for result, socket in task.outputs.items():
        value = results[result]
        if isinstance(value, bytes):  # an image file, already encoded
            payloads[root / socket.relative_path] = value
            continue
        try:
            payloads[root / socket.relative_path] = (json.dumps(value, indent=2, allow_nan=False) + "\n").encode()
        except (TypeError, ValueError) as exc:
            raise KitError(f"cannot write {socket.slug!r}: {exc}") from exc
    made = missing_folders(root, payloads)
    written: list[Path] = []
    try:
        for path, data in payloads.items():
            write_bytes_atomic(path, data)
            written.append(path)
    except BaseException:
        remove_outputs(written, made)
        raise
    return written


def output_paths(root: Path, task: Task) -> list[Path]:
    """Where ``task``'s outputs go under ``root``."""
    return [root / socket.relative_path for socket in task.outputs.values()]


def check_writable(root: Path, task: Task) -> None:
    """OutputError naming the first of ``task``'s outputs under ``root`` that could not be written: a folder
    on its way that is a file or that the process may not write in, or something other than a file in its
    place."""
    for path in output_paths(root, task):
        if path.is_dir():
            raise OutputError(f"{path}: is a folder; the output is a file")
        if path.exists() and not path.is_file():
            raise OutputError(f"{path}: is not a regular file (a device, a pipe or a socket)")
        folder = next(p for p in (path.parent, *path.parent.parents) if p.exists())
        if not folder.is_dir():
            raise OutputError(f"{path}: cannot be written: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"{path}: cannot be written: no permission to write in {folder}")


def missing_folders(root: Path, paths: Iterable[Path]) -> list[Path]:
    """The folders on the way to ``paths`` (``root`` included) that do not exist yet, deepest first."""
    missing: set[Path] = set()
    for path in paths:
        for folder in (path.parent, *path.parent.parents):
            if folder.exists() or not (folder == root or root in folder.parents):
                break
            missing.add(folder)
    return sorted(missing, key=lambda f: len(f.parts), reverse=True)


def remove_outputs(files: Iterable[Path], folders: Iterable[Path]) -> None:
    """Undo a job's writing: those of ``files`` that are files, then the ``folders`` it made (deepest first),
    where empty."""
    for path in files:
        with contextlib.suppress(OSError):  # the failure being reported matters more than this one
            if path.is_file():
                path.unlink()
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty (something else was written there meanwhile) or gone
            folder.rmdir()
