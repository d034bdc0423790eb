"""Writing results to their output sockets, all or nothing.

JSON values are serialised (images arrive as file bytes) first, then each file is written atomically; if any
step fails, files already written by this job are removed, so a failed job
leaves no partial output behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from algorithm.errors import KitError
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
    written: list[Path] = []
    try:
        for path, data in payloads.items():
            write_bytes_atomic(path, data)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
