"""The stain target a model was trained to: what its checkpoint stores, what the job reads.

Training fits a normaliser to a target (an image, or the first training slide's
tissue) and saves what the job needs to normalise every new slide the same way:
the method, the options it was built with and the fitted target. Both sides use
this one class, so a key written is a key read. Checkpoints store it as a plain
dict (``to_dict``: lists, no pickled objects, so ``weights_only`` loading works);
those written before it had no ``"version"``, read as version 1 (the plain
``Normaliser.params()`` dict, whose ``"source"``, a fit to one image, the job
refits per slide and ignores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from algorithm.errors import ConfigError
from algorithm.stain.base import Normaliser, Params
from algorithm.stain.errors import NotFittedError

SPEC_VERSION = 1
_KEYS = ("version", "method", "statistics", "target", "slide_target")
_LEGACY_KEYS = (*_KEYS[1:], "source")  # before the version key: Normaliser.params() as it was saved


def _params(value: Any, where: str) -> Params:
    """A saved parameter tuple (lists of numbers) as float64 arrays."""
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{where}: expected a list of arrays, got {type(value).__name__}")
    try:
        return tuple(np.asarray(a, dtype=np.float64) for a in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: not numeric arrays ({exc})") from exc


@dataclass(frozen=True, eq=False)
class StainSpec:
    """A fitted stain target: ``method`` with its ``statistics`` option, fitted to ``target``
    (per image) and ``slide_target`` (what per-slide fits are mapped to)."""

    method: str
    target: Params
    slide_target: Params
    statistics: str = "auto"
    version: int = field(default=SPEC_VERSION)

    @classmethod
    def of(cls, normaliser: Normaliser) -> StainSpec:
        """The spec of a normaliser fitted to its target (its slide source, if any, is not part of it)."""
        if normaliser.target is None:
            raise NotFittedError(f"the {normaliser.method} normaliser has no target: fit it first")
        slide = normaliser.slide_target if normaliser.slide_target is not None else normaliser.target
        return cls(normaliser.method, normaliser.target, slide, normaliser.statistics)

    def normaliser(self) -> Normaliser:
        """A normaliser built as in training, holding this target; its source is still to be fitted per slide."""
        from algorithm.stain import get_normaliser  # the package imports this module

        normaliser = get_normaliser(self.method, statistics=self.statistics)
        return normaliser.load_target(
            {"method": self.method, "target": list(self.target), "slide_target": list(self.slide_target)}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and strings, for a checkpoint."""
        return {
            "version": self.version,
            "method": self.method,
            "statistics": self.statistics,
            "target": [a.tolist() for a in self.target],
            "slide_target": [a.tolist() for a in self.slide_target],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> StainSpec:
        """Read a saved spec; ``source`` names where it came from in messages (e.g. ``models/x.pt: stain``)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected an object with keys {list(_KEYS)}, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_KEYS if "version" in data else _LEGACY_KEYS))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(_KEYS)}")
        version = data.get("version", 1)
        if version != SPEC_VERSION:
            raise ConfigError(f"{source}: stain spec version {version!r}; this kit reads version {SPEC_VERSION}")
        for key in ("method", "target"):
            if data.get(key) is None:
                raise ConfigError(f"{source}: no {key!r}")
        target = _params(data["target"], f"{source}: target")
        slide = data.get("slide_target")
        return cls(
            method=str(data["method"]),
            target=target,
            slide_target=target if slide is None else _params(slide, f"{source}: slide_target"),
            statistics=str(data.get("statistics", "auto")),
        )
