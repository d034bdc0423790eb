"""Commands run where file permissions bind, also when the tests run as root (CI does).

Root reads and writes any file whatever its mode, through two capabilities
(``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``). A command started without them
(util-linux's ``setpriv``, dropping them from the bounding set before ``exec``)
meets ``chmod 000`` and read-only folders as any other user does, while still
reaching root's own files (the venv's Python). Without root nothing is dropped.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DROPPED = "-dac_override,-dac_read_search"


def prefix() -> list[str]:
    """What runs a command without root's override of file permissions ([] when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and no setpriv (util-linux) to drop root's override of file permissions")
    return [setpriv, "--bounding-set", DROPPED]


def run_python(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` (e.g. ``-m algorithm ...`` or ``-c CODE``) from the checkout, permissions binding."""
    return subprocess.run(
        [*prefix(), sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def locked_folder(path: Path) -> Path:
    """``path`` made as a folder nobody may write in (mode 555)."""
    path.mkdir(mode=0o555)
    return path


def unreadable(path: Path) -> Path:
    """``path`` (an existing file) made unreadable to all (mode 000)."""
    path.chmod(0o000)
    return path


def error_line_of(imports: str, call: str) -> str:
    """The line a command would show (``algorithm.console.error_line``) for what ``call`` raises, run with
    ``imports`` first and permissions binding (in a child process); "" when it raises nothing."""
    return _outcome(imports, [call], "error_line(exc)[0]")[0]


def raised_by(imports: str, call: str) -> str:
    """``ExceptionType: message`` of what ``call`` raises, as :func:`error_line_of` runs it; "" for nothing."""
    return raised_by_each(imports, [call])[0]


def raised_by_each(imports: str, calls: list[str]) -> list[str]:
    """:func:`raised_by` of each of ``calls``, in one child process."""
    return _outcome(imports, calls, "f'{type(exc).__name__}: {exc}'")


def _outcome(imports: str, calls: list[str], shown: str) -> list[str]:
    lines = ["from pathlib import Path", "from algorithm.console import error_line", imports]
    for call in calls:
        lines += ["try:", f"    {call}", "    print()", "except BaseException as exc:", f"    print({shown})"]
    result = run_python("-c", "\n".join(lines))
    assert result.returncode == 0, result.stderr
    return [line.strip() for line in result.stdout.split("\n")[: len(calls)]]


def run_limited(max_bytes: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` where no file may grow past ``max_bytes`` (``RLIMIT_FSIZE``: the system refuses the
    write with EFBIG, as a full disk refuses one with ENOSPC; the signal that would kill the process ignored)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=limit,
    )
