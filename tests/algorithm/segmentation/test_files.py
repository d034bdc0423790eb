from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from algorithm.errors import KitError
from algorithm.segmentation.files import heatmap_mha_bytes, read_heatmap_tiff, write_heatmap_tiff
from algorithm.segmentation.heatmap import Heatmap
from tests.unprivileged import error_line_of, unreadable


@pytest.fixture()
def heatmap() -> Heatmap:
    rng = np.random.default_rng(0)
    probability = rng.random((30, 50)).astype(np.float32)
    return Heatmap(probability, probability > 0.3, downsample=16.0, mpp=4.0)


def test_tiff_round_trip_is_lossless(tmp_path: Path, heatmap: Heatmap) -> None:
    write_heatmap_tiff(tmp_path / "h.tiff", heatmap)
    back = read_heatmap_tiff(tmp_path / "h.tiff")
    assert np.array_equal(back.probability, heatmap.probability) and np.array_equal(back.tissue, heatmap.tissue)
    assert (back.downsample, back.mpp) == (16.0, 4.0)
    assert [p.name for p in tmp_path.iterdir()] == ["h.tiff"]  # no temporary left behind


def test_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="not found"):
        read_heatmap_tiff(tmp_path / "none.tiff")
    (tmp_path / "junk.tiff").write_bytes(b"not a tiff")
    with pytest.raises(KitError, match=r"junk\.tiff: not a heatmap TIFF"):
        read_heatmap_tiff(tmp_path / "junk.tiff")


def test_mha_has_spacing_in_millimetres(tmp_path: Path, heatmap: Heatmap) -> None:
    (tmp_path / "h.mha").write_bytes(heatmap_mha_bytes(heatmap, (0.25, 0.25)))
    image = sitk.ReadImage(str(tmp_path / "h.mha"))
    assert image.GetSize() == (50, 30)
    assert np.allclose(image.GetSpacing(), (0.004, 0.004))
    assert np.allclose(image.GetOrigin(), (7.5 * 0.25e-3, 7.5 * 0.25e-3))
    assert np.array_equal(sitk.GetArrayFromImage(image), heatmap.probability)


def test_a_heatmap_it_may_not_read_is_named_as_such(tmp_path: Path, heatmap: Heatmap) -> None:
    """Not "not a heatmap TIFF of this kit": the system refused, whatever the file holds."""
    path = tmp_path / "h.tiff"
    write_heatmap_tiff(path, heatmap)
    unreadable(path)
    line = error_line_of(
        "from algorithm.segmentation.files import read_heatmap_tiff", f"read_heatmap_tiff({str(path)!r})"
    )
    assert line == f"error: {path}: cannot be read: permission denied"
