"""What the system will not let the process read: one line naming the file or folder, never "damaged", "not a
TIFF", "no slides found" or a silently shorter list (run where permissions bind: tests/unprivileged.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from algorithm.errors import KitError
from algorithm.slide import slide_files
from tests.conftest import REPO, write_pyramid_tiff
from tests.unprivileged import raised_by_each, unreadable


@pytest.mark.filterwarnings("ignore::FutureWarning:torch")  # torch.jit's deprecation notes
def test_every_reader_of_a_users_file_names_the_file_it_may_not_read(tmp_path: Path) -> None:
    picture = tmp_path / "picture.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(picture)
    files = {name: tmp_path / name for name in ("mask.png", "target.png", "list.csv", "oof.json", "net.pt")}
    for name in ("mask.png", "target.png"):
        shutil.copy(picture, files[name])
    files["list.csv"].write_text("slide\na.tiff\n")
    files["oof.json"].write_text("{}")
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 1, 1)), files["net.pt"])
    checkpoint = tmp_path / "segmenter.pt"
    shutil.copy(REPO / "models" / "segmenter.pt", checkpoint)
    for path in [picture, checkpoint, *files.values()]:
        unreadable(path)
    calls = {
        "read_checkpoint": f"read_checkpoint({str(checkpoint)!r}, 'segmenter')",
        "load_torchscript": f"load_torchscript({str(files['net.pt'])!r})",
        "load_exported": f"load_exported({str(files['net.pt'])!r})",
        "read_target_image": f"read_target_image({str(files['target.png'])!r})",
        "slides_in_csv": f"slides_in_csv(Path({str(files['list.csv'])!r}))",
        "nuclei read_mask": f"read_mask(Path({str(files['mask.png'])!r}))",
        "as_tiff": f"as_tiff(Path({str(picture)!r}), 0.5, Path({str(tmp_path)!r}))",
        "tumour mask": f"TumourSlide(Path('s.tiff'), Path({str(files['mask.png'])!r}), 64, 64, 0.5).mask",
        "oof probabilities": f"_training_rows(Path({str(files['oof.json'])!r}), PatchFeatureConfig())",
    }
    imports = "\n".join(
        (
            "from algorithm.models.checkpoint import read_checkpoint",
            "from algorithm.engine.model_files import load_exported, load_torchscript",
            "from algorithm.stain.target_image import read_target_image",
            "from algorithm.cohort.slides import slides_in_csv",
            "from algorithm.features import PatchFeatureConfig",
            "from training.nuclei.data import read_mask",
            "from training.datasets.pictures import as_tiff",
            "from training.datasets.tumour import TumourSlide",
            "from training.classifier.label_command import _training_rows",
        )
    )
    raised = dict(zip(calls, raised_by_each(imports, list(calls.values())), strict=True))
    expected = {
        "read_checkpoint": checkpoint,
        "load_torchscript": files["net.pt"],
        "load_exported": files["net.pt"],
        "read_target_image": files["target.png"],
        "slides_in_csv": files["list.csv"],
        "nuclei read_mask": files["mask.png"],
        "as_tiff": picture,
        "tumour mask": files["mask.png"],
        "oof probabilities": files["oof.json"],
    }
    for name, path in expected.items():
        assert raised[name] == f"KitError: {path}: cannot be read: permission denied", (name, raised[name])


def test_a_folder_it_may_not_list_is_an_error_not_an_empty_folder(tmp_path: Path) -> None:
    """rglob/glob pass over it silently: a cohort lost a subfolder's slides, a slide folder had 'no slides'."""
    cohort = tmp_path / "cohort"
    (cohort / "more").mkdir(parents=True)
    write_pyramid_tiff(cohort / "a.tiff", np.full((64, 64, 3), 200, np.uint8), levels=1)
    hidden = cohort / "more"
    write_pyramid_tiff(hidden / "b.tiff", np.full((64, 64, 3), 200, np.uint8), levels=1)
    unreadable(hidden)
    synthetic = tmp_path / "synth"
    synthetic.mkdir()
    unreadable(synthetic)
    raised = raised_by_each(
        "from algorithm.slide import slide_files\nfrom training.datasets.synthetic import read_synthetic_folder",
        [f"slide_files(Path({str(cohort)!r}))", f"read_synthetic_folder({str(synthetic)!r})"],
    )
    assert raised == [
        f"KitError: {hidden}: cannot be read: permission denied",
        f"KitError: {synthetic}: cannot be read: permission denied",
    ]
    hidden.chmod(0o755)
    synthetic.chmod(0o755)


def test_links_are_followed_once_and_a_broken_link_to_a_slide_is_named(tmp_path: Path) -> None:
    """A link back up listed one slide 41 times (until the path grew too long); a link to a slide that is gone
    was skipped without a word."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "s.tif").write_bytes(b"")
    (tmp_path / "loop").symlink_to(".")
    (tmp_path / "sub" / "up").symlink_to("..")
    (tmp_path / "again").symlink_to("sub")
    assert slide_files(tmp_path) == [tmp_path / "s.tif"]
    (tmp_path / "notes.txt").symlink_to("/nonexistent/notes.txt")  # not a slide: no matter
    assert slide_files(tmp_path) == [tmp_path / "s.tif"]
    (tmp_path / "gone.svs").symlink_to("/nonexistent/gone.svs")
    with pytest.raises(KitError, match=r"gone\.svs: a link to /nonexistent/gone\.svs, which does not exist"):
        slide_files(tmp_path)
