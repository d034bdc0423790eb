"""Fixtures the algorithm's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture()
def _torch_threads() -> Iterator[None]:
    """A cohort worker sets torch's threads for its process: restore them for the other tests."""
    before = torch.get_num_threads()
    yield None
    torch.set_num_threads(before)
