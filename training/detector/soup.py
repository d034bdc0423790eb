"""A model soup: several fine-tunes of one detector, their weights averaged into one detector.

Fine-tunes of one parent (other seeds, other options) stay in one basin of the
loss, where the mean of their weights is a good model too, and often a better
one than each, above all away from the data they were trained on (Wortsman et
al. 2022, "Model soups"); it costs what one model costs at inference. Each of
the bundled detector's fine-tunes traded scanner C's precision against real
figures' scores differently; their mean kept both (models/MODEL_CARD.md).

The ingredients must be one architecture trained to one stain target (the
soup normalises tiles as each of them does); anything else is a ConfigError
naming the file. An ingredient's threshold belongs to its own weights, so the
soup's is chosen afresh on validation slides, as training chooses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from algorithm.errors import ConfigError
from algorithm.models import load_detector, refuse_program
from algorithm.models.detector import DetectorConfig


@dataclass(frozen=True)
class Ingredient:
    """One fine-tuned checkpoint: its weights, config, the rest of the checkpoint and the file's sha256."""

    path: Path
    state: dict[str, torch.Tensor]
    config: DetectorConfig
    checkpoint: dict[str, Any]
    sha256: str

    def record(self) -> dict[str, Any]:
        """What the soup's checkpoint says of this ingredient: its file, its own validation and the training
        command that made it (JSON, as its checkpoint recorded it; None if it did not)."""
        metrics = self.checkpoint.get("metrics") or {}
        return {
            "file": str(self.path),
            "sha256": self.sha256,
            "threshold": self.checkpoint.get("threshold"),
            "f1": metrics.get("f1"),
            "command": self.checkpoint.get("command"),
        }


def read_ingredients(paths: Sequence[Path]) -> list[Ingredient]:
    """The checkpoints at ``paths``, checked to be one detector architecture with one stain target."""
    if len(paths) < 2:
        raise ConfigError(f"a soup needs at least two detector checkpoints, got {len(paths)}")
    ingredients = []
    for path in paths:
        model, config, checkpoint = load_detector(path)
        refuse_program(path, checkpoint, "a soup (averaged weights)")
        state = model.state_dict()  # detached tensors; the model itself is not kept
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        ingredients.append(Ingredient(Path(path), state, config, checkpoint, digest))
    first = ingredients[0]
    for other in ingredients[1:]:
        if other.config != first.config:
            raise ConfigError(
                f"{other.path}: another detector than {first.path} ({_differences(first.config, other.config)}); "
                "a soup averages fine-tunes of one model"
            )
        if _stain(other) != _stain(first):
            raise ConfigError(
                f"{other.path}: trained to another stain target than {first.path}; a soup's tiles are normalised "
                "to one target, so its ingredients must share it"
            )
    return ingredients


def average_state(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of each floating-point tensor over ``states`` (summed in float64, kept in its own dtype;
    batch norm's running statistics too); batch norm's batch counters the largest (unused at inference);
    any other tensor must be the same in all and is kept."""
    first = states[0]
    out = {}
    for key, value in first.items():
        if value.is_floating_point():
            total = sum((s[key].to(torch.float64) for s in states), torch.zeros_like(value, dtype=torch.float64))
            out[key] = (total / len(states)).to(value.dtype)
        elif key.endswith("num_batches_tracked"):
            out[key] = torch.stack([s[key] for s in states]).max()
        elif all(torch.equal(s[key], value) for s in states[1:]):
            out[key] = value.clone()
        else:
            raise ConfigError(f"the checkpoints' {key} differ ({value.dtype}): not weights that can be averaged")
    return out


def _stain(ingredient: Ingredient) -> str | None:
    spec = ingredient.checkpoint.get("stain")
    return None if spec is None else json.dumps(spec.to_dict(), sort_keys=True)


def _differences(a: DetectorConfig, b: DetectorConfig) -> str:
    left, right = a.to_dict(), b.to_dict()
    return ", ".join(f"{k} {left[k]!r} against {right[k]!r}" for k in left if left[k] != right.get(k))
