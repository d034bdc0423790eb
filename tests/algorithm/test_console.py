from __future__ import annotations

import errno
import logging
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from algorithm.cli import main
from algorithm.console import configure_logging, error_line, run_main
from algorithm.errors import SlideError
from tests.conftest import write_pyramid_tiff


def test_kit_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str] | None) -> int:
        raise SlideError("a.svs: corrupt")

    assert run_main(main, []) == 1
    assert capsys.readouterr().err == "error: a.svs: corrupt\n"


def test_unexpected_error_points_to_debug(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str] | None) -> int:
        raise ZeroDivisionError("division by zero")

    assert run_main(main, []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--debug" in err and "Traceback" not in err


def test_what_the_system_refuses_is_the_file_and_its_reason() -> None:
    """A file the process may not read, a folder where a file was expected, a full disk: the user's to mend."""
    assert error_line(PermissionError(errno.EACCES, "Permission denied", "/in/slide.svs")) == (
        "error: /in/slide.svs: permission denied",
        1,
    )
    assert error_line(IsADirectoryError(errno.EISDIR, "Is a directory", b"/in/x")) == (
        "error: /in/x: is a directory",
        1,
    )
    assert error_line(OSError(errno.ENOSPC, "No space left on device")) == ("error: no space left on device", 1)
    line, status = error_line(OSError(errno.EIO, "Input/output error"))  # no file named: not the user's to find
    assert line.startswith("error: internal error (OSError") and status == 1


def test_sigterm_unwinds_like_ctrl_c_and_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``docker stop``'s SIGTERM: the clean-ups run (Python's default would die at once, skipping them) and the
    command ends with one line and 143; the handler before is back afterwards."""
    cleaned: list[str] = []

    def main(argv: list[str] | None) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler raises here
        finally:
            cleaned.append("outputs removed")
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert run_main(main, []) == 143
    assert capsys.readouterr().err == "error: terminated (SIGTERM)\n" and cleaned == ["outputs removed"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str] | None) -> int:
        raise SlideError("b.svs: corrupt")

    assert run_main(main, ["--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_the_command_lines_logging_levels(capsys: pytest.CaptureFixture[str], kit_logging: None) -> None:
    log = logging.getLogger("algorithm.some.module")
    configure_logging()
    log.info("summary")
    log.debug("detail")
    log.warning("worked around")
    assert capsys.readouterr().err == "summary\nwarning: worked around\n"
    configure_logging(quiet=True)
    log.info("summary")
    log.warning("worked around")
    assert capsys.readouterr().err == "warning: worked around\n"
    configure_logging(debug=True)
    log.debug("detail")
    assert capsys.readouterr().err == "detail\n"
    # configuring again replaces, never stacks (other tests' pytest capture handlers may sit beside it)
    ours = [h for h in logging.getLogger("algorithm").handlers if type(h).__name__ == "_StderrHandler"]
    assert len(ours) == 1


def test_quiet_job_prints_only_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kit_logging: None
) -> None:
    glass = write_pyramid_tiff(tmp_path / "glass.tiff", np.full((256, 256, 3), 242, np.uint8), mpp=0.25)
    assert main(["--input", str(glass), "--output", str(tmp_path / "out"), "--task", "midog", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["--input", str(glass), "--output", str(tmp_path / "out2"), "--task", "midog"]) == 0
    err = capsys.readouterr().err
    assert "torch" in err and "glass.tiff:" in err  # the start-up line and the summaries
