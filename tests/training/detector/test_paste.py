from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.stain.optical_density import rgb_to_od
from training.datasets.real_negatives import read_real_negatives
from training.datasets.synthetic import read_synthetic_folder
from training.detector.paste import (
    RUIFROK_HAEMATOXYLIN,
    FigurePaster,
    Stamp,
    figure_stamps,
    haematoxylin_vector,
    paste,
)
from training.detector.sampler import PatchSampler, SamplingConfig

H = np.asarray(RUIFROK_HAEMATOXYLIN, np.float64)


def _stamps(synthetic_slide, per_slide: int = 4, seed: int = 0) -> list[Stamp]:
    return figure_stamps(read_synthetic_folder(synthetic_slide.files.slide.parent), 0.5, per_slide, seed)


def test_stamps_are_the_slides_figures_alone_centred_without_halo(synthetic_slide) -> None:
    stamps = _stamps(synthetic_slide)
    assert len(stamps) == 4  # the slide has 10 figures, 4 asked for
    for s in stamps:
        size = s.haematoxylin.shape[0]
        assert s.haematoxylin.shape == s.cover.shape == (size, size)
        assert s.haematoxylin.max() > 0.5 and s.cover.min() >= 0 and s.cover.max() <= 1
        # chromatin in the middle, nothing at the border: no halo, no neighbours drawn
        rows, cols = np.nonzero(s.haematoxylin > 0.05)
        assert abs(rows.mean() - size / 2) < size / 4 and abs(cols.mean() - size / 2) < size / 4
        border = np.concatenate([s.cover[0], s.cover[-1], s.cover[:, 0], s.cover[:, -1]])
        assert border.max() < 0.01
    again = _stamps(synthetic_slide)
    assert all(np.array_equal(a.haematoxylin, b.haematoxylin) for a, b in zip(stamps, again, strict=True))
    other = _stamps(synthetic_slide, seed=1)
    assert not all(np.array_equal(a.haematoxylin, b.haematoxylin) for a, b in zip(stamps, other, strict=True))


def test_paste_adds_haematoxylin_where_the_stamp_is_and_nothing_elsewhere() -> None:
    background = np.full((40, 40, 3), (200, 150, 190), np.uint8)
    h = np.zeros((9, 9), np.float32)
    h[3:6, 3:6] = 1.0
    stamp = Stamp(h, (h > 0).astype(np.float32))
    out = paste(background, stamp, (20.0, 20.0), H)
    changed = np.argwhere((out != background).any(axis=-1))
    assert changed.min(axis=0).tolist() == [19, 19] and changed.max(axis=0).tolist() == [21, 21]
    added = rgb_to_od(out[20, 20]) - rgb_to_od(background[20, 20]) * 0.2
    assert np.allclose(added / np.linalg.norm(added), H / np.linalg.norm(H), atol=0.02)  # along haematoxylin
    # at an edge the stamp is clipped, not wrapped, and the input is never changed
    corner = paste(background, stamp, (0.0, 0.0), H)
    assert (corner[:2, :2] != background[:2, :2]).any() and (corner[5:, 5:] == background[5:, 5:]).all()
    assert (background == (200, 150, 190)).all()


def test_haematoxylin_vector_is_the_targets_or_ruifroks() -> None:
    assert np.array_equal(haematoxylin_vector(None), H)


def test_a_share_of_mitosis_patches_are_real_tissue_with_a_figure_pasted_in_its_box(
    synthetic_slide, tmp_path: Path
) -> None:
    slides = read_synthetic_folder(synthetic_slide.files.slide.parent)
    real_image = np.full((300, 400, 3), (225, 190, 215), np.uint8)  # pale pink: any dark pixel is the figure
    Image.fromarray(real_image).save(tmp_path / "real.png")
    real = read_real_negatives([tmp_path / "real.png"], 0.25, tmp_path / "work")
    paster = FigurePaster(_stamps(synthetic_slide), H, 0.5)
    config = SamplingConfig(tile_size=64, mpp=0.5, mitosis_fraction=1.0, pasted_fraction=0.5, jitter=0.3)
    sampler = PatchSampler(slides, config, real=real, paster=paster)
    rng = np.random.default_rng(3)
    patches = [sampler.sample(rng) for _ in range(60)]
    pasted = [p for p in patches if p.origin == "pasted"]
    assert 0.3 < len(pasted) / len(patches) < 0.7
    for p in pasted:
        assert p.labels.tolist() == [1] and p.domain == "real"
        x1, y1, x2, y2 = p.boxes[0]
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
        dark = np.argwhere(p.pixels.sum(axis=-1) < 400)
        assert len(dark), "no figure pasted"
        cy, cx = dark.mean(axis=0)
        assert x1 - 2 <= cx <= x2 + 2 and y1 - 2 <= cy <= y2 + 2  # the figure sits in its box
    sampler.close()


def test_pasted_share_without_figures_is_an_error_and_is_checked() -> None:
    with pytest.raises(ConfigError, match="no mitotic figures to paste"):
        FigurePaster([], H, 0.5)
    with pytest.raises(ConfigError, match="pasted-figure share must be in"):
        SamplingConfig(pasted_fraction=1.5)
