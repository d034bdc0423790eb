"""Accepting images in the forms callers have them, and handing results back alike.

Convention (numpy and torch alike): uint8 RGB, channels last.

- ``(H, W, 3)``: one image;
- ``(N, H, W, 3)``: a batch of N images (torch: ``x.permute(0, 2, 3, 1)`` turns
  a channels-first batch into this; a non-contiguous view is fine);
- ``(P, 3)``: loose pixels, treated as one image.

Results come back with the input's type, shape and (torch) device. Inputs are
only ever read: numpy arrays are wrapped with ``torch.from_numpy`` (no copy)
and never written; a read-only array is copied first (torch would warn about
it, and silencing the warning meant changing the process's warning filters
from the tile engine's reader threads, which ``warnings.catch_warnings`` does
not make safe).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

ImageLike = np.ndarray | torch.Tensor


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


def as_image_batch(images: ImageLike) -> ImageBatch:
    """Validate ``images`` (see module docstring) and view it as pixels."""
    is_numpy = isinstance(images, np.ndarray)
    if not is_numpy and not isinstance(images, torch.Tensor):
        raise TypeError(f"expected a numpy array or torch tensor of uint8 RGB, got {type(images).__name__}")
    if images.dtype not in (np.uint8, torch.uint8):
        raise TypeError(f"expected uint8 RGB, got dtype {images.dtype}")
    shape = tuple(images.shape)
    if len(shape) not in (2, 3, 4) or shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB shaped (H, W, 3), (N, H, W, 3) or (P, 3) with channels last, got {shape}")
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
