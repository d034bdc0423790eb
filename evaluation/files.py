"""File helpers: strict JSON reading and atomic writing (metrics.json, the plots).

The evaluation package has its own copy of the atomic write (it must not import
``algorithm``): write a temporary file beside the destination, fsync, then
``os.replace`` it into place, so ``metrics.json`` is either complete or absent.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from evaluation.errors import EvaluationError


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity by default; they are not JSON and not scores.
    raise ValueError(f"{name} is not valid JSON (use a finite number)")


def parse_json_text(text: str, what: str) -> Any:
    """Parse ``text`` strictly (no NaN/Infinity); ``what`` names the source in errors."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except ValueError as exc:
        raise EvaluationError(f"{what}: {exc}") from exc


def read_json(path: Path, what: str | None = None) -> Any:
    """Read a JSON file strictly; a missing or unreadable file is an :class:`EvaluationError`."""
    label = what or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise EvaluationError(f"{label}: file not found") from exc
    except IsADirectoryError as exc:
        raise EvaluationError(f"{label}: is a directory, expected a JSON file") from exc
    except UnicodeDecodeError as exc:
        raise EvaluationError(f"{label}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise EvaluationError(f"{label}: cannot read ({exc.strerror})") from exc
    return parse_json_text(text, label)


def write_bytes_atomic(destination: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``destination``, fsync, then rename it into place.

    The file is either complete or absent (never half-written); it is readable by all (0644), as
    grand-challenge's upload of ``/output`` runs as another user.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, destination)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_json_atomic(destination: Path, obj: Any) -> None:
    """Serialise first (so a bad value fails before anything is written), then replace atomically."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    write_bytes_atomic(destination, text.encode("utf-8"))
