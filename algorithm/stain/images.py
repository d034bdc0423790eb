"""Accepting images in the forms callers have them, and handing results back alike.

Convention (numpy and torch alike): uint8 RGB, channels last.

- ``(H, W, 3)``: one image;
- ``(N, H, W, 3)``: a batch of N images (torch: ``x.permute(0, 2, 3, 1)`` turns
  a channels-first batch into this; a non-contiguous view is fine);
- ``(P, 3)``: loose pixels, treated as one image.

Anything else is refused by :func:`check_rgb`, the one check of the stain
functions (and of :mod:`algorithm.tissue`'s), as a ConfigError that says what
was expected and what came, with a hint for the usual mix-ups (a float image,
grey, RGBA, channels first). Nothing is converted on a guess.

Results come back with the input's type, shape and (torch) device. Inputs are
only ever read: numpy arrays are wrapped with ``torch.from_numpy`` (no copy)
and never written; a read-only array is copied first (torch would warn about
it, and silencing the warning meant changing the process's warning filters
from the tile engine's reader threads, which ``warnings.catch_warnings`` does
not make safe).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from algorithm.stain.errors import InputShapeError, InputTypeError

ImageLike = np.ndarray | torch.Tensor
FORMS = "(H, W, 3), (N, H, W, 3) or (P, 3)"  # what the stain functions accept (see the module docstring)


@dataclass(frozen=True)
class ImageBatch:
    """A batch viewed as ``(P, 3)`` uint8 pixels on one device, plus how to undo it."""

    pixels: torch.Tensor  # (P, 3) uint8; may share memory with the caller's input: read only
    n_images: int
    shape: tuple[int, ...]
    is_numpy: bool

    @property
    def device(self) -> torch.device:
        """The pixels' device."""
        return self.pixels.device

    @property
    def pixels_per_image(self) -> int:
        """Pixels of each image in the batch (all the same size)."""
        return self.pixels.shape[0] // max(self.n_images, 1)

    def images(self) -> Iterator[torch.Tensor]:
        """Each image's ``(P_i, 3)`` pixels (views)."""
        step = self.pixels_per_image
        for i in range(self.n_images):
            yield self.pixels[i * step : (i + 1) * step]

    def wrap(self, out: torch.Tensor) -> ImageLike:
        """Pixels ``(P, 3)`` back into the input's type and shape."""
        out = out.reshape(self.shape)
        return out.cpu().numpy() if self.is_numpy else out


def check_rgb(
    images: object,
    ndims: Collection[int] = (2, 3, 4),
    forms: str = FORMS,
    allow_empty: bool = True,
    numpy_only: bool = False,
) -> None:
    """Raise unless ``images`` is uint8 RGB, channels last: a numpy array (or, unless ``numpy_only``,
    a torch tensor) of ``ndim`` in ``ndims`` (``forms``, for the message, names those shapes); with
    ``allow_empty`` False, of at least one pixel.

    :class:`~algorithm.stain.errors.InputTypeError` (a ConfigError and a TypeError) for the wrong
    type or dtype, :class:`~algorithm.stain.errors.InputShapeError` (a ConfigError and a ValueError)
    for the wrong shape. Nothing is converted: a float image may be in [0, 1] or in [0, 255], and an
    alpha channel may be meant to be dropped or composited, so the caller says which.
    """
    if numpy_only and isinstance(images, torch.Tensor):
        raise InputTypeError("expected a numpy array of uint8 RGB, got a torch tensor (tensor.cpu().numpy() is one)")
    if not isinstance(images, np.ndarray | torch.Tensor):
        kinds = "a numpy array" if numpy_only else "a numpy array or torch tensor"
        raise InputTypeError(f"expected {kinds} of uint8 RGB, got {type(images).__name__}")
    if images.dtype not in (np.uint8, torch.uint8):
        raise InputTypeError(f"expected uint8 RGB (levels 0-255), got dtype {images.dtype}{_dtype_hint(images)}")
    shape = tuple(images.shape)
    if len(shape) not in ndims or not shape or shape[-1] != 3:
        raise InputShapeError(f"expected uint8 RGB shaped {forms} with channels last, got {shape}{_shape_hint(shape)}")
    if not allow_empty and 0 in shape:
        raise InputShapeError(f"expected uint8 RGB shaped {forms} with at least one pixel, got an empty image {shape}")


def _dtype_hint(images: np.ndarray | torch.Tensor) -> str:
    floating = images.is_floating_point() if isinstance(images, torch.Tensor) else images.dtype.kind == "f"
    if floating:
        return (
            "; convert it first: (image * 255).round().astype(np.uint8) if it holds 0-1, "
            "image.round().astype(np.uint8) if 0-255"
        )
    return ""


def _shape_hint(shape: tuple[int, ...]) -> str:
    if len(shape) >= 2 and shape[-1] == 4:
        return "; RGBA? drop the alpha channel (image[..., :3]) or composite the image on white first"
    if len(shape) >= 3 and shape[-3] == 3:
        return "; channels first? move them last (numpy: np.moveaxis(image, -3, -1); torch: image.movedim(-3, -1))"
    if (len(shape) == 2 and shape[-1] != 3) or (len(shape) >= 3 and shape[-1] == 1):
        return "; grey? repeat it into three channels (one image: np.dstack([grey] * 3))"
    return ""


def as_image_batch(images: ImageLike) -> ImageBatch:
    """Validate ``images`` (see module docstring and :func:`check_rgb`) and view it as pixels."""
    check_rgb(images)
    is_numpy = isinstance(images, np.ndarray)
    shape = tuple(images.shape)
    t: torch.Tensor
    if isinstance(images, np.ndarray):
        array = np.ascontiguousarray(images)
        t = torch.from_numpy(array if array.flags.writeable else array.copy())
    else:
        t = images
    n_images = shape[0] if len(shape) == 4 else 1
    return ImageBatch(t.reshape(-1, 3).contiguous(), n_images, shape, is_numpy)


def to_numpy_pixels(rgb: ImageLike) -> np.ndarray:
    """Any accepted form as ``(P, 3)`` uint8 numpy (for fitting, which runs on the CPU)."""
    batch = as_image_batch(rgb)
    return batch.pixels.cpu().numpy()
