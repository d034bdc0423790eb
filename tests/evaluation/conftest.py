"""Fixtures for the evaluation tests: a submission folder builder under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.builders import Submission


@pytest.fixture()
def submission(tmp_path: Path) -> Submission:
    return Submission(tmp_path)
