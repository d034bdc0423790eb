"""Warming a GPU up while the host works, so that a job's first batch runs at full speed.

A GPU's first batch of a shape pays for loading the kernels it uses (CUDA loads
them lazily) and for cuDNN choosing its algorithms, and the first JPEG decoded
on it pays for setting up nvJPEG: measured on an H100, a job's detector tiles
ran 5x slower than the same tiles a second time, about a second in all. A job
does that once per slide, when the host is busy with the tissue mask and the
stain fit anyway. :func:`warm_up` runs each of the job's tile models once on a
batch of random tiles of the shape the engine will give it, and decodes a small
JPEG on the device, in a thread, beside that host work. The engine pads a
short last batch to the full batch size on CUDA (``EngineOptions.pad``), so a
slide's batches all have the warmed shape.

Best effort: a failure here (say, memory for the batch) is left for the job
itself to meet and report.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence

import torch

from algorithm.device import autocast
from algorithm.engine.models import TileModel

DECODE_BATCH = 32  # JPEGs in the decoder's warm-up call
DECODE_SIDE = 512  # their side: the larger of the stored tile sizes slides use (256, 512)


class WarmUp:
    """The warm-up thread (none on the CPU); :meth:`wait` before the process may exit."""

    def __init__(self, thread: threading.Thread | None = None) -> None:
        self.thread = thread
        self.done = False  # set when every step ran without an error

    def wait(self) -> None:
        """Block until the warm-up has finished (at once when there is none)."""
        if self.thread is not None:
            self.thread.join()


def warm_up(
    models: Sequence[tuple[TileModel, tuple[int, int]]],
    device: torch.device,
    batch_size: int,
    decode: bool = True,
    amp: bool = True,
    force: bool = False,
) -> WarmUp:
    """Run each ``(model, (h, w))`` once on ``batch_size`` random tiles, and nvJPEG once, in a thread.

    Only on CUDA (``force``: on any device, for tests); ``decode``: also decode a JPEG
    on the device (the engine will, see ``EngineOptions.device_decode``).
    """
    if device.type != "cuda" and not force:
        return WarmUp()
    warm = WarmUp()

    def run() -> None:
        try:
            generator = torch.Generator(device=device).manual_seed(0)
            with torch.inference_mode():
                for model, (h, w) in models:
                    tiles = torch.rand((batch_size, 3, h, w), generator=generator, device=device)
                    with autocast(device, amp):
                        raw = model.forward(tiles)
                    model.to_host(model.postprocess(raw))
                if decode:
                    _decode_once(device)
            warm.done = True
        except Exception:  # noqa: BLE001 - best effort: the job meets and reports any real problem
            pass

    warm.thread = threading.Thread(target=run, name="warm-up", daemon=True)
    warm.thread.start()
    return warm


def _decode_once(device: torch.device, count: int = DECODE_BATCH, side: int = DECODE_SIDE) -> None:
    """``count`` JPEGs of a stored tile's size decoded on ``device`` in one call: sets up the device's decoder
    (nvJPEG on CUDA) and its buffers for a batch of stored tiles, not just for one small image."""
    from torchvision.io import decode_jpeg, encode_jpeg

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for TorchCodec's; still there
        warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
        ramp = (torch.arange(side) % 256).to(torch.uint8).expand(side, side)  # some detail, a few KB compressed
        stream = encode_jpeg(torch.stack([ramp, ramp.T, 255 - ramp]), quality=90)
        decode_jpeg([stream] * count, device=device)
