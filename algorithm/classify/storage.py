"""Saving and loading scikit-learn slide-level models: one joblib file, checked when read.

A pickle predicts the same only under the scikit-learn that wrote it, so each file records
the library versions and loading refuses another scikit-learn. Only load files you trust:
joblib files are pickles. scikit-learn and joblib are imported here, when a model is saved
or loaded, so a job that needs none does not pay for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from algorithm import __version__
from algorithm.errors import ConfigError
from algorithm.io.atomic import atomic_path
from algorithm.io.readable import readable_file


def library_versions() -> dict[str, str]:
    """The versions a model is saved with: a pickle only predicts the same under the same scikit-learn."""
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "kit": __version__}


def save_payload(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` as one compressed joblib file, whole or not at all."""
    import joblib

    with atomic_path(path, suffix=".part.joblib") as tmp:
        joblib.dump(payload, tmp, compress=3)


def load_payload(path: str | os.PathLike[str], fmt: str, keys: tuple[str, ...], what: str, retrain: str) -> dict:
    """The payload of a saved ``what`` of format ``fmt`` holding ``keys``, written by this scikit-learn.

    Every problem is a ConfigError naming the file; ``retrain`` is the command that remakes it.
    """
    import joblib
    import sklearn

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    readable_file(path)
    try:
        payload = joblib.load(path)
    except Exception as exc:  # unpickling raises anything
        text = str(exc).strip()
        detail = text.splitlines()[0] if text else type(exc).__name__
        why = "the file is empty" if path.stat().st_size == 0 else f"damaged, or not written by joblib.dump: {detail}"
        raise ConfigError(f"{path}: not a readable {what} ({why})") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ConfigError(f"{path}: not a {what} of this kit (expected format {fmt})")
    missing = [key for key in keys if key not in payload]
    if missing:
        raise ConfigError(f"{path}: incomplete {what} (no {', '.join(missing)})")
    saved = payload["versions"].get("scikit-learn")
    if saved != sklearn.__version__:
        raise ConfigError(
            f"{path}: trained with scikit-learn {saved}, this is {sklearn.__version__}; "
            f"install scikit-learn=={saved} or retrain with {retrain}"
        )
    return payload


def check_feature_names(path: Path, names: list[str], payload: dict) -> None:
    """ConfigError unless the features this kit computes (``names``) are the ones the saved model was trained on."""
    if names != payload["feature_names"]:
        raise ConfigError(
            f"{path}: its features differ from the ones this kit computes "
            f"(trained by kit {payload['versions'].get('kit')}); retrain it"
        )
