"""Nuclei masks: pairing them with images (identical stems, the generator's ``.nuclei-mask``) and reading them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from algorithm.errors import ConfigError
from training.nuclei.data import find_pairs, load_image, read_mask
from training.stain_target import transform_factory
from training.synth.config import SynthConfig
from training.synth.generate import generate_slide


def _png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)
    return path


def _tiff(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.full((8, 8), value, dtype=np.uint8))
    return path


def test_identical_stems_in_a_masks_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    for name in ("b.png", "a.tif", "unmasked.png"):
        _png(images / name)
    (images / "notes.txt").write_text("not an image")
    _png(masks / "a.png", 255)
    _png(masks / "b.jpg", 255)
    pairs = find_pairs(images, masks)
    assert [(p.name, p.image.name, p.mask.name) for p in pairs] == [("a", "a.tif", "a.png"), ("b", "b.png", "b.jpg")]
    assert caplog.messages == [
        f"{images}: 1 image has no mask in {masks}, left out: unmasked.png"
    ]  # not dropped silently


def test_generator_naming_beside_the_slides(tmp_path: Path) -> None:
    cfg = SynthConfig(seed=4, width=512, height=384, label="tumour", mitoses=1, imposters=1)
    result = generate_slide(cfg, tmp_path, nuclei_mask=True)
    _png(tmp_path / "other.png")  # an image without a mask: not paired, and not anyone's mask
    pairs = find_pairs(tmp_path, tmp_path)
    assert [(p.name, p.image.name, p.mask.name) for p in pairs] == [
        ("synth-000004", "synth-000004.tiff", "synth-000004.nuclei-mask.tiff")
    ]
    assert result.files.nuclei_mask == pairs[0].mask
    # The mask is on the slide's own grid: the trainer reads it as the slide's truth.
    image = load_image(pairs[0], 0.5, 0.25, tmp_path / "work", transform_factory(None, 0.5))
    assert image.truth.shape == (cfg.height, cfg.width) and image.truth.any()
    assert np.array_equal(image.truth, read_mask(pairs[0].mask))
    assert np.array_equal(image.truth, tifffile.imread(pairs[0].mask) == 255)
    assert image.target.shape == image.pixels.shape[:2] == (cfg.height // 2, cfg.width // 2)


def test_generator_naming_in_a_masks_folder_and_its_files_are_never_images(tmp_path: Path) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    _png(images / "s1.tiff")
    _png(images / "s2.tiff")
    _png(images / "s3.tiff")
    _tiff(images / "s2.nuclei-mask.tiff")  # a mask among the images is not an image
    _tiff(images / "s3.nuclei-mask.tiff")
    _tiff(masks / "s1.nuclei-mask.tiff", 255)
    _png(masks / "s2.png", 255)
    _png(masks / "s3.nuclei-mask.png", 255)
    _png(masks / "s2.nuclei-mask.nuclei-mask.png", 255)  # would be the mask of the image "s2.nuclei-mask"
    pairs = find_pairs(images, masks)
    assert [(p.name, p.mask.name) for p in pairs] == [
        ("s1", "s1.nuclei-mask.tiff"),
        ("s2", "s2.png"),
        ("s3", "s3.nuclei-mask.png"),
    ]


def test_two_masks_for_one_image_or_none_at_all_are_config_errors(tmp_path: Path) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    _png(images / "a.tiff")
    _png(masks / "a.png")
    _tiff(masks / "a.nuclei-mask.tiff")
    with pytest.raises(ConfigError, match=r"a\.tiff: more than one mask .*a\.nuclei-mask\.tiff, a\.png"):
        find_pairs(images, masks)
    with pytest.raises(ConfigError, match="no image with a mask"):
        find_pairs(images, images)  # beside the images only .nuclei-mask files are masks
    with pytest.raises(ConfigError, match="not a folder"):
        find_pairs(images, tmp_path / "missing")


def test_tiff_masks_are_read_with_tifffile_others_with_pillow(tmp_path: Path) -> None:
    truth = np.zeros((300, 200), dtype=bool)
    truth[40:90, 30:170] = True
    # Tiled and deflated as the generator writes them (Pillow's libtiff would read this one; not all are).
    tiled = tmp_path / "a.nuclei-mask.TIFF"
    tifffile.imwrite(tiled, truth * np.uint8(255), tile=(64, 64), compression="zlib")
    assert np.array_equal(read_mask(tiled), truth)
    for name, stored in (
        ("ones.tif", truth.astype(np.uint8)),
        ("wide.tiff", truth * np.uint16(65535)),
        ("rgb.tiff", np.repeat((truth * np.uint8(255))[..., None], 3, axis=2)),
    ):
        tifffile.imwrite(tmp_path / name, stored)
        assert np.array_equal(read_mask(tmp_path / name), truth), name
    Image.fromarray(truth * np.uint8(255)).save(tmp_path / "grey.png")
    assert np.array_equal(read_mask(tmp_path / "grey.png"), truth)
    (tmp_path / "broken.tiff").write_bytes(b"II*\x00not a tiff")
    with pytest.raises(ConfigError, match=r"broken\.tiff: cannot read the mask"):
        read_mask(tmp_path / "broken.tiff")
    tifffile.imwrite(
        tmp_path / "stack.tiff", np.zeros((8, 8, 2), np.uint8), photometric="minisblack", planarconfig="contig"
    )
    with pytest.raises(ConfigError, match="stack.tiff: cannot read the mask .*single-channel"):
        read_mask(tmp_path / "stack.tiff")
