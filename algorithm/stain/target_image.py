"""A stain target read from an image file: the colours a model was trained on, as ``fit`` takes them."""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.io.readable import readable_file


def read_target_image(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """The image at ``path`` as ``(H, W, 3)`` uint8 RGB, or a ConfigError naming it: when it cannot be read, and
    when any pixel is transparent (converted to RGB, a cut-out's background is black and would be fitted as
    tissue)."""
    from PIL import Image  # with the command that reads a target, not with every import of the stain package

    readable_file(path)

    try:
        with Image.open(path) as opened:
            rgba = np.asarray(opened.convert("RGBA"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the stain target image ({exc})") from exc
    clear = float(np.mean(rgba[..., 3] < 255))
    if clear:
        raise ConfigError(
            f"{path}: {clear:.0%} of its pixels are transparent; save the stain target without transparency"
        )
    return np.ascontiguousarray(rgba[..., :3])
