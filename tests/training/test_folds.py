from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.folds import fold_of, fold_split


@dataclass(frozen=True)
class _Slide:
    name: str
    label: int


SLIDES = [_Slide(f"s{i}", int(i < 6)) for i in range(15)]


def test_every_fold_gets_its_share_of_each_label() -> None:
    fold = fold_of(SLIDES, 3, seed=4)
    for k in range(3):
        members = [s for s, f in zip(SLIDES, fold, strict=True) if f == k]
        assert sum(s.label for s in members) == 2
        assert len(members) == 5
    assert np.array_equal(fold, fold_of(SLIDES, 3, seed=4))


def test_split_is_the_fold_and_the_rest() -> None:
    train, valid = fold_split(SLIDES, 3, 1, seed=0)
    assert sorted(s.name for s in train + valid) == sorted(s.name for s in SLIDES)
    assert not {s.name for s in train} & {s.name for s in valid}


@pytest.mark.parametrize("folds", [1, 16])
def test_impossible_fold_counts_are_refused(folds: int) -> None:
    with pytest.raises(ConfigError, match="folds"):
        fold_of(SLIDES, folds, seed=0)
