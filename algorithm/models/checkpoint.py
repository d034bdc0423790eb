"""Model checkpoints: one file holding weights, the config to rebuild the model,
and what it scored (or a participant's own network as a program: :mod:`algorithm.models.program`).
Loaded with ``weights_only=True`` (no pickled code runs).

Any problem — missing file, not a checkpoint, wrong kind, weights that do not fit
the architecture — is a ConfigError naming the file.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
import torchvision

from algorithm import __version__
from algorithm.errors import ConfigError
from algorithm.io.atomic import atomic_path
from algorithm.io.readable import readable_file
from algorithm.stain.spec import StainSpec

FORMAT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str],
    kind: str,
    config: dict[str, Any],
    model: torch.nn.Module,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    half: bool = False,
) -> None:
    """Write a checkpoint atomically; ``half`` stores float weights as float16 (half the size).

    ``extra`` holds more top-level entries; a :class:`StainSpec` among them is stored as its plain dict.
    """
    state = {
        k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    save_payload(path, kind, config, {"state_dict": state}, metrics, extra)


def save_payload(
    path: str | os.PathLike[str],
    kind: str,
    config: dict[str, Any],
    network: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically: ``network`` is its weights (``state_dict``) or its program (``program``,
    :mod:`algorithm.models.program`); ``extra`` as :func:`save_checkpoint`'s."""
    payload = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": config,
        **network,
        "metrics": metrics or {},
        "versions": {"kit": __version__, "torch": str(torch.__version__), "torchvision": str(torchvision.__version__)},
        **{k: (v.to_dict() if isinstance(v, StainSpec) else v) for k, v in (extra or {}).items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """Read and check a checkpoint of ``kind`` ("detector", "segmenter")."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: model checkpoint not found")
    readable_file(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike
        raise ConfigError(f"{path}: not a readable model checkpoint ({_unreadable(path, exc)})") from exc
    if not isinstance(payload, dict) or not ({"state_dict", "program"} & set(payload)) or "config" not in payload:
        raise ConfigError(f"{path}: not a checkpoint of this kit (no config and weights or program inside)")
    if payload.get("kind") != kind:
        raise ConfigError(f"{path}: holds a {payload.get('kind')!r} model, expected a {kind!r}")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ConfigError(f"{path}: written by a newer kit (format {payload['format_version']}); update the kit")
    if payload.get("stain") is not None:  # the stain target the model was trained to, read once, here
        payload["stain"] = StainSpec.from_dict(payload["stain"], f"{path}: stain")
    return payload


def _unreadable(path: Path, exc: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in the user's terms (torch's own message for a file
    it did not write, or for a pickled object, advises loading with ``weights_only=False``: running the file's
    code, which the kit never does)."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return "not a file torch.save wrote"
    if isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc):
        return (
            "it holds Python objects besides tensors and plain data, such as a whole pickled model; the kit "
            "loads weights only and never runs a file's code: save what python -m training saves"
        )
    text = str(exc).strip()
    return f"damaged: {type(exc).__name__}: {text.splitlines()[0]}" if text else f"damaged: {type(exc).__name__}"


def load_state(path: str | os.PathLike[str], model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load weights strictly, restoring float16-stored tensors to the model's dtype."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                details.append(f"{len(keys)} {label} (e.g. {keys[0]})")
        raise ConfigError(f"{path}: weights do not fit the model in its config: {', '.join(details)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
