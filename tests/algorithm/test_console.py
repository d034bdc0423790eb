from __future__ import annotations

import pytest

from algorithm.console import run_main
from algorithm.errors import SlideError


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


def test_debug_shows_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def main(argv: list[str] | None) -> int:
        raise SlideError("b.svs: corrupt")

    assert run_main(main, ["--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
