from __future__ import annotations

import pytest

from algorithm.errors import ConfigError
from algorithm.interface.tasks import HELP, MIDOG, load_tasks


def test_one_or_several_tasks() -> None:
    assert load_tasks("midog") == (MIDOG,)
    assert load_tasks("midog, help") == (MIDOG, HELP)


def test_tasks_must_take_different_input_sockets() -> None:
    with pytest.raises(ConfigError, match="tasks 'help' and 'all' both take input socket 'whole-slide-image'"):
        load_tasks("help,all")
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        load_tasks("midog,nope")
