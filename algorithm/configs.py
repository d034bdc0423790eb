"""Configuration dicts checked against the dataclass they build: the kit's one rule for unknown keys.

A key this kit does not know is an error, never dropped: in a checkpoint it describes a model the
kit would rebuild differently, in a task file a socket it would not write. One message everywhere
(the evaluation's config reads the same), naming the file or section and the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from algorithm.errors import ConfigError


def config_values(cls: type[Any], data: Any, source: str) -> dict[str, Any]:
    """A copy of ``data`` checked to hold only fields of the dataclass ``cls``; ``source`` names it."""
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object with keys {names}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(names)}")
    return dict(data)
