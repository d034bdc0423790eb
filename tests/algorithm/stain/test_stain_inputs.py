"""The stain API's misuse errors: ConfigErrors (the kit's), still the builtin types they were, with hints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError, KitError
from algorithm.stain import (
    ConcentrationSolver,
    StainAugmentor,
    get_concentrations,
    get_extractor,
    get_normaliser,
    sample_tissue_pixels,
)
from algorithm.stain.errors import InputShapeError, InputTypeError, NotFittedError
from algorithm.stain.images import check_rgb
from algorithm.stain.optical_density import tissue_pixels
from algorithm.stain.spec import StainSpec
from algorithm.stain.stain_normaliser import StainNormaliser
from tests.conftest import blob_image

METHODS = ("macenko", "vahadane", "reinhard")
IMAGE = blob_image(120, 80, seed=3)


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    return {m: get_normaliser(m).fit(blob_image(300, 200, seed=4)) for m in METHODS}


# (input, the kit's error, the builtin it also is, words the message must hold)
BAD_IMAGES = [
    (IMAGE / 255.0, InputTypeError, TypeError, r"uint8 RGB \(levels 0-255\), got dtype float64; convert it first"),
    (torch.from_numpy(IMAGE).float(), InputTypeError, TypeError, "got dtype torch.float32; convert it first"),
    (IMAGE.astype(np.uint16), InputTypeError, TypeError, "got dtype uint16$"),
    (IMAGE.tolist(), InputTypeError, TypeError, "numpy array or torch tensor of uint8 RGB, got list"),
    (IMAGE[..., 0], InputShapeError, ValueError, r"got \(80, 120\); grey\? repeat it into three channels"),
    (IMAGE[..., :1], InputShapeError, ValueError, r"got \(80, 120, 1\); grey\?"),
    (np.dstack([IMAGE, IMAGE[..., :1]]), InputShapeError, ValueError, r"\(80, 120, 4\); RGBA\? drop the alpha"),
    (np.moveaxis(IMAGE, -1, 0), InputShapeError, ValueError, r"channels last, got \(3, 80, 120\); channels first\?"),
    (torch.from_numpy(IMAGE).permute(2, 0, 1)[None], InputShapeError, ValueError, "channels first"),
    (IMAGE[None, None], InputShapeError, ValueError, r"\(N, H, W, 3\) or \(P, 3\) with channels last"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("image", "kind", "builtin", "words"), BAD_IMAGES)
def test_bad_images_are_config_errors(fitted, method, image, kind, builtin, words) -> None:
    norm = fitted[method]
    for call in (norm.transform, norm.fit, get_normaliser(method).fit):
        with pytest.raises(kind, match=words) as caught:
            call(image)
        assert isinstance(caught.value, ConfigError) and isinstance(caught.value, builtin)


@pytest.mark.parametrize(("image", "kind", "builtin", "words"), BAD_IMAGES)
def test_the_other_image_entry_points_check_alike(image, kind, builtin, words) -> None:
    """Augmentation, extraction, sampling: one check, so one message."""
    calls = (
        StainAugmentor().augment,
        StainAugmentor().fit_source,
        get_extractor("macenko").get_stain_matrix,
        sample_tissue_pixels,
    )
    for call in calls:
        with pytest.raises(kind, match=words) as caught:
            call(image)
        assert isinstance(caught.value, ConfigError) and isinstance(caught.value, builtin)


def test_tissue_pixels_refuses_what_it_accepted_silently_or_with_numpy_errors() -> None:
    with pytest.raises(InputTypeError, match="float64"):
        tissue_pixels(IMAGE / 255.0)
    with pytest.raises(InputShapeError, match="RGBA"):
        tissue_pixels(np.dstack([IMAGE, IMAGE[..., :1]]))


@pytest.mark.parametrize("method", METHODS)
def test_use_before_fit_is_a_config_error_and_still_a_runtime_error(method) -> None:
    norm = get_normaliser(method)
    calls = (norm.transform, norm, lambda x: norm.fixed_map("cpu"), lambda x: norm.lookup_table("cpu"))
    for call in calls:
        with pytest.raises(NotFittedError, match=f"{method} normaliser.*fit") as caught:
            call(IMAGE)
        assert isinstance(caught.value, ConfigError) and isinstance(caught.value, RuntimeError)
    norm.fit(blob_image(300, 200, seed=4))  # a target, still no source: no fixed map
    with pytest.raises(NotFittedError, match="fit_source"):
        norm.fixed_map("cpu")


def test_a_spec_of_an_unfitted_normaliser_is_a_config_error_and_still_a_value_error() -> None:
    with pytest.raises(NotFittedError, match="no target: fit it first") as caught:
        StainSpec.of(get_normaliser("macenko"))
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_wrong_parameter_shapes_are_config_errors() -> None:
    norm = get_normaliser("macenko")
    assert isinstance(norm, StainNormaliser)
    with pytest.raises(InputShapeError, match=r"2 x 3 stain matrix .* got shapes \(2, 2\) and \(2,\)"):
        norm.set_target(np.eye(2), np.ones(2))  # was numpy's "cannot reshape array of size 4"
    with pytest.raises(InputShapeError, match=r"got shapes \(2, 3\) and \(3,\)"):
        norm.set_source(np.ones((2, 3)), np.ones(3))
    with pytest.raises(InputShapeError, match="stain matrix must be 2 x 3"):
        ConcentrationSolver(np.eye(3))
    with pytest.raises(InputShapeError, match="stain matrix must be 2 x 3"):
        get_concentrations(np.ones((4, 3)), np.eye(3))
    with pytest.raises(InputShapeError, match="does not fit pixels") as caught:
        sample_tissue_pixels(IMAGE.reshape(-1, 3), np.ones(5, bool))
    assert isinstance(caught.value, KitError) and isinstance(caught.value, ValueError)


def test_good_inputs_pass_the_check() -> None:
    """Every documented form: numpy and torch, views, read-only, empty (the stain API leaves those unchanged)."""
    read_only = IMAGE.copy()
    read_only.flags.writeable = False
    for good in (
        IMAGE,
        IMAGE[None],
        IMAGE.reshape(-1, 3),
        IMAGE[::2, ::-1],
        read_only,
        torch.from_numpy(IMAGE).permute(2, 0, 1).permute(1, 2, 0),
        np.zeros((0, 8, 8, 3), np.uint8),
    ):
        check_rgb(good)
    with pytest.raises(InputShapeError, match="at least one pixel, got an empty image"):
        check_rgb(np.zeros((0, 0, 3), np.uint8), allow_empty=False)
    with pytest.raises(InputTypeError, match=r"numpy array of uint8 RGB, got a torch tensor \(tensor.cpu\(\).numpy"):
        check_rgb(torch.from_numpy(IMAGE), numpy_only=True)
