from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.draw import ellipse

from algorithm.errors import ConfigError
from algorithm.features import major_axis
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.tumour import read_labels_csv, read_tumour_folder, write_labels_csv


def _slide(folder: Path, name: str = "a.tiff") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_pyramid_tiff(folder / name, blob_image(600, 400), mpp=0.5, tile=64, levels=2)


def _mask(path: Path, size: tuple[int, int] = (150, 100), tumour: bool = True) -> np.ndarray:
    """A (w, h) mask PNG with a tumour ellipse and a smaller second region; returns it as bool."""
    w, h = size
    mask = np.zeros((h, w), bool)
    if tumour:
        rr, cc = ellipse(h // 2, w // 3, 12, 30, shape=mask.shape, rotation=0.4)
        mask[rr, cc] = True
        mask[5:8, w - 40 : w - 5] = True  # long and thin, smaller in area
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(path)
    return mask


def test_slide_with_tumour_mask_beside_it(tmp_path: Path) -> None:
    path = _slide(tmp_path)
    mask = _mask(tmp_path / "a.tumour-mask.png")
    (slide,) = read_tumour_folder(tmp_path)
    assert slide.path == path and slide.name == "a" and slide.mask_path == tmp_path / "a.tumour-mask.png"
    assert (slide.width, slide.height, slide.mpp) == (600, 400, 0.5)
    assert slide.label == 1 and slide.domain is None
    assert slide.mask_downsample == (4.0, 4.0)
    np.testing.assert_array_equal(slide.mask, mask)
    # HeLP's truth: the largest region by area (not the long thin one), in micrometres
    expected = major_axis(mask, largest="area").length_px * 4.0 * 0.5
    assert slide.major_axis_um == pytest.approx(expected)
    assert slide.major_axis_um == pytest.approx(2 * 30 * 4.0 * 0.5, rel=0.03)


def test_empty_mask_is_a_normal_slide(tmp_path: Path) -> None:
    _slide(tmp_path)
    _mask(tmp_path / "a.png", tumour=False)
    (slide,) = read_tumour_folder(tmp_path)
    assert slide.label == 0 and slide.major_axis_um == 0.0


def test_masks_in_their_own_folder_and_other_names(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    _slide(slides, "a.tiff")
    _slide(slides, "b.tiff")
    _mask(tmp_path / "masks" / "a.mask.png")
    _mask(tmp_path / "masks" / "b.tumour-mask.png", tumour=False)
    _mask(slides / "a.tumour-mask.png", tumour=False)  # the masks folder comes first
    found = read_tumour_folder(slides, masks=tmp_path / "masks")
    assert [s.name for s in found] == ["a", "b"]
    assert [s.mask_path for s in found] == [tmp_path / "masks" / "a.mask.png", tmp_path / "masks" / "b.tumour-mask.png"]
    assert [s.label for s in found] == [1, 0]


def test_mask_falls_back_to_the_slide_folder(tmp_path: Path) -> None:
    _slide(tmp_path / "slides")
    _mask(tmp_path / "slides" / "a.mask.png")
    (tmp_path / "masks").mkdir()
    (slide,) = read_tumour_folder(tmp_path / "slides", masks=tmp_path / "masks")
    assert slide.mask_path == tmp_path / "slides" / "a.mask.png"


def test_domain_comes_from_the_truth_file(tmp_path: Path) -> None:
    _slide(tmp_path)
    _mask(tmp_path / "a.tumour-mask.png")
    (tmp_path / "a.truth.json").write_text(json.dumps({"scanner": {"name": "C"}}))
    assert read_tumour_folder(tmp_path)[0].domain == "C"


def test_slide_without_mask_is_refused(tmp_path: Path) -> None:
    _slide(tmp_path, "a.tiff")
    _mask(tmp_path / "a.tumour-mask.png")
    lonely = _slide(tmp_path, "b.tiff")
    with pytest.raises(ConfigError, match="no tumour mask") as error:
        read_tumour_folder(tmp_path)
    assert str(lonely) in str(error.value) and "b.tumour-mask.png" in str(error.value)


def test_mask_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    _slide(tmp_path)
    _mask(tmp_path / "a.tumour-mask.png", size=(150, 50))
    with pytest.raises(ConfigError, match="does not have the shape of its slide") as error:
        read_tumour_folder(tmp_path)
    assert "a.tumour-mask.png" in str(error.value)


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="slide folder not found"):
        read_tumour_folder(tmp_path / "nope")
    _mask(tmp_path / "a.png")
    with pytest.raises(ConfigError, match="no slides"):
        read_tumour_folder(tmp_path)


def test_labels_accept_the_usual_spellings(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "slide,label,major_axis_um\n"
        "a,1,1234.5\nb,0,\nc,Tumour,  \nd,normal,0\ne,TRUE,88\nf,false,\ng,tumor,\nslides/h.tiff,1,7\n"
    )
    assert read_labels_csv(path) == {
        "a": (1, 1234.5),
        "b": (0, None),
        "c": (1, None),
        "d": (0, 0.0),
        "e": (1, 88.0),
        "f": (0, None),
        "g": (1, None),
        "h": (1, 7.0),
    }


def test_labels_without_an_axis_column(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("slide,label\nx,1\ny,0\n")
    assert read_labels_csv(path) == {"x": (1, None), "y": (0, None)}


@pytest.mark.parametrize(
    "text, message",
    [
        ("slide,label\nx,1\ny,maybe\n", "line 3: label 'maybe'"),
        ("slide,label,major_axis_um\nx,1,long\n", "line 2: major_axis_um 'long' is not a number"),
        ("name,class\nx,1\n", "needs a header"),
        ("slide,label\n", "no rows"),
    ],
)
def test_bad_labels_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        read_labels_csv(path)
    assert str(error.value).startswith(str(path))


def test_missing_labels_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels file not found"):
        read_labels_csv(tmp_path / "labels.csv")


def test_labels_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    write_labels_csv(path, [("a", 1, 1234.5), ("b", 0, 0.0), ("c", 1, 98.7654)])
    assert path.read_text().splitlines()[0] == "slide,label,major_axis_um"
    assert read_labels_csv(path) == {"a": (1, 1234.5), "b": (0, 0.0), "c": (1, 98.765)}  # three decimals


def test_a_synthetic_slides_nuclei_mask_beside_it_is_not_a_slide(tmp_path: Path) -> None:
    """synth --nuclei-masks writes <name>.nuclei-mask.tiff beside <name>.tiff: it was listed as a slide (and
    then failed for want of a tumour mask of its own)."""
    _slide(tmp_path)
    _mask(tmp_path / "a.tumour-mask.png")
    write_pyramid_tiff(tmp_path / "a.nuclei-mask.tiff", np.zeros((400, 600, 3), np.uint8), mpp=0.5, tile=64)
    assert [s.name for s in read_tumour_folder(tmp_path)] == ["a"]
