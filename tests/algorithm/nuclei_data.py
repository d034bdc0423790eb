"""Real nuclei data for the nuclei task's tests: MoNuSeg images as TIFF slides, and a small U-Net checkpoint
briefly trained (seeded, a couple of seconds on the CPU) on one of them, so masks are neither empty nor full."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from algorithm.models import UNetConfig, build_unet, save_checkpoint
from algorithm.stain import get_normaliser
from tests.conftest import write_pyramid_tiff

MONUSEG_MPP = 0.25
TRAIN_IMAGE = "TCGA-2Z-A9J9-01A-01-TS1"  # the checkpoint learns from this one
TEST_IMAGE = "TCGA-44-2665-01B-06-BS6"  # the tests run on this one
CONFIG = UNetConfig(widths=(8, 16, 32), tile_size=256, mpp=0.5)


def monuseg(shared_data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A MoNuSeg image (RGB uint8, 1000 x 1000 at 0.25 um/px) and its nuclei mask (bool; the JPEG at 128)."""
    folder = shared_data / "nuclei" / "monuseg"
    image = np.asarray(Image.open(folder / "images" / f"{name}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(folder / "masks" / f"{name}.jpg").convert("L")) >= 128
    return image, mask


def monuseg_tiff(shared_data: Path, name: str, path: Path, crop: int | None = None) -> Path:
    """The image as a tiled deflate TIFF with resolution tags (0.25 um/px), cropped to ``crop`` square if given."""
    image, _ = monuseg(shared_data, name)
    if crop is not None:
        image = image[:crop, :crop]
    return write_pyramid_tiff(path, np.ascontiguousarray(image), mpp=MONUSEG_MPP, tile=256, levels=1)


def train_checkpoint(shared_data: Path, path: Path, steps: int = 15, seed: int = 0, threshold: float = 0.5) -> Path:
    """A "nuclei" checkpoint: :data:`CONFIG`'s U-Net trained ``steps`` Adam steps on 96 px crops of
    :data:`TRAIN_IMAGE` at 0.5 um/px, with a Macenko stain target fitted to that image (seeded; the global
    torch RNG is left as it was)."""
    image, mask = monuseg(shared_data, TRAIN_IMAGE)
    x = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    y = torch.from_numpy(mask.astype(np.float32))[None, None]
    x, y = F.avg_pool2d(x, 2), (F.avg_pool2d(y, 2) >= 0.5).float()  # 0.25 -> 0.5 um/px
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_unet(CONFIG)
        optimiser = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(steps):
            corners = rng.integers(0, x.shape[-1] - 96, (2, 2))
            tiles = torch.cat([x[..., r : r + 96, c : c + 96] for r, c in corners])
            truth = torch.cat([y[..., r : r + 96, c : c + 96] for r, c in corners])
            loss = F.binary_cross_entropy_with_logits(model(tiles), truth)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    stain = get_normaliser("macenko").fit(image).params()
    save_checkpoint(path, "nuclei", CONFIG.to_dict(), model.eval(), extra={"stain": stain, "threshold": threshold})
    return path
