"""Fixtures the algorithm's tests share."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch

from algorithm.console import LOGGERS


@pytest.fixture()
def _torch_threads() -> Iterator[None]:
    """A cohort worker sets torch's threads for its process: restore them for the other tests."""
    before = torch.get_num_threads()
    yield None
    torch.set_num_threads(before)


@pytest.fixture()
def kit_logging() -> Iterator[None]:
    """The kit's loggers as configure_logging leaves them, reset afterwards (they are process-wide: a
    command line run in the test's process configures them)."""
    yield
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
