"""Cross-validation folds by slide: every fold gets its share of each label."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError


class _Labelled(Protocol):
    @property
    def label(self) -> int: ...


S = TypeVar("S", bound=_Labelled)


def fold_of(slides: Sequence[_Labelled], folds: int, seed: int) -> NDArray[np.int64]:
    """The fold of every slide: positive (1) and negative (0) slides dealt out separately after a seeded
    shuffle, so every fold has its share of each."""
    if folds < 2 or folds > len(slides):
        raise ConfigError(f"{folds} folds: need 2 <= folds <= {len(slides)} slides")
    rng = np.random.default_rng(seed)
    assigned = np.zeros(len(slides), dtype=np.int64)
    position = 0
    for label in (1, 0):
        members = [i for i, s in enumerate(slides) if s.label == label]
        for i in rng.permutation(members):
            assigned[int(i)] = position % folds
            position += 1
    return assigned


def fold_split(slides: list[S], folds: int, fold: int, seed: int) -> tuple[list[S], list[S]]:
    """(training, validation) slides of fold ``fold`` of ``folds`` (see :func:`fold_of`)."""
    if folds < 2 or not 0 <= fold < folds or folds > len(slides):
        raise ConfigError(
            f"--folds {folds} --fold {fold}: need 2 <= folds <= {len(slides)} slides and 0 <= fold < folds"
        )
    assigned = fold_of(slides, folds, seed)
    return (
        [s for i, s in enumerate(slides) if assigned[i] != fold],
        [s for i, s in enumerate(slides) if assigned[i] == fold],
    )
