"""What the training commands' tests share: a command line refused before any work."""

from __future__ import annotations

import pytest

from training.cli import main


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of ``python -m training ARGV`` refused as a usage error: exit 2 with the command's usage (the
    last line of stderr, after the prefix), no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines)
    err, prefix = lines[-1], f"python -m training {argv[0]}: error: "
    assert err.startswith(prefix), err
    return err[len(prefix) :]
