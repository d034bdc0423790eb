from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest

from algorithm.errors import OutputError
from algorithm.io.atomic import all_or_nothing, atomic_path, write_bytes_atomic, write_json_atomic
from tests.unprivileged import locked_folder, raised_by, run_limited


def test_json_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    write_json_atomic(target, {"a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_failure_leaves_nothing_and_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_unserialisable_value_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "x.json", {"f1": math.nan})
    assert not any(tmp_path.iterdir())


def test_what_is_not_a_regular_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Renaming over a pipe or a device would replace it with a file (a program's --out /dev/full did)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OutputError, match=r"pipe: is not a regular file \(a device, a pipe or a socket\)"):
        write_bytes_atomic(pipe, b"x")
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    with pytest.raises(OutputError, match="is a folder; the output is a file"):
        write_bytes_atomic(tmp_path, b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_what_the_system_refuses_names_the_destination_not_the_temporary_file(tmp_path: Path) -> None:
    """A file too large for the process's limit (EFBIG, refused as a full disk refuses with ENOSPC) and a folder
    it may not write in: one OutputError naming the destination; nothing left behind."""
    target = tmp_path / "big.bin"
    code = (
        "from algorithm.io.atomic import write_bytes_atomic\n"
        "try:\n"
        f"    write_bytes_atomic({str(target)!r}, bytes(100_000))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = run_limited(50_000, "-c", code)
    assert result.stdout.strip() == f"OutputError {target}: cannot be written: file too large", result.stderr
    assert not any(tmp_path.iterdir())
    locked = locked_folder(tmp_path / "locked")
    raised = raised_by(
        "from algorithm.io.atomic import write_bytes_atomic", f"write_bytes_atomic({str(locked / 'x')!r}, b'x')"
    )
    assert raised == f"OutputError: {locked / 'x'}: cannot be written: permission denied"


def test_a_set_of_outputs_is_whole_or_absent(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), all_or_nothing() as written:
        for name in ("a.tiff", "b.tiff"):
            written.append(tmp_path / name)
            write_bytes_atomic(written[-1], b"x")
        raise KeyboardInterrupt
    assert not any(tmp_path.iterdir())
    with all_or_nothing() as written:
        written.append(tmp_path / "kept.tiff")
        write_bytes_atomic(written[-1], b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["kept.tiff"]
