from __future__ import annotations

from pathlib import Path

import pytest

from algorithm.cohort.slides import MAX_JOB_ID, job_id, list_slides
from algorithm.errors import ConfigError, KitError
from tests.algorithm.cohort.conftest import cohort


def test_a_folder_lists_its_slides_sorted_with_safe_unique_job_ids(tmp_path: Path) -> None:
    for name in ("b.tiff", "a.svs", "sub/a.tiff", "notes.txt", "x y+z.ome.tiff", "thumbnail.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    slides = list_slides(tmp_path)
    assert [(s.path.relative_to(tmp_path).as_posix(), s.job) for s in slides] == [
        ("a.svs", "a"),
        ("b.tiff", "b"),
        ("sub/a.tiff", "a-2"),
        ("x y+z.ome.tiff", "x_y_z.ome"),
    ]


def test_a_slide_named_like_anothers_repeat_still_gets_its_own_job(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ "a-2.tif" and the second of "a.svs"/"a.tiff" both wanted "a-2": one slide was dropped, one run twice."""
    for name in ("a.svs", "a.tiff", "a-2.tif"):
        (tmp_path / name).write_bytes(b"")
    jobs = {s.path.name: s.job for s in list_slides(tmp_path)}
    assert jobs == {"a-2.tif": "a-2", "a.svs": "a", "a.tiff": "a-3"}
    # the evaluation matches cases by name without the suffix: said before the run, not after it
    assert any("a.svs" in m and "a.tiff" in m and "have one name" in m for m in caplog.messages)


def test_a_long_name_is_cut_to_a_job_id_its_folders_can_bear(tmp_path: Path) -> None:
    long = "L" * 240  # with ".tif": near the 255 a file name may have; its folders add their own suffixes
    for name in (f"{long}.tif", f"{long}x.tif"):
        (tmp_path / name).write_bytes(b"")
    jobs = [s.job for s in list_slides(tmp_path)]
    assert all(len(job) <= MAX_JOB_ID for job in jobs) and len(set(jobs)) == 2
    assert all(job.startswith("L" * 100) for job in jobs)


def test_the_input_folder_as_the_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.tiff").write_bytes(b"")
    with pytest.raises(ConfigError, match="is the input folder; write the cohort's outputs elsewhere"):
        list_slides(tmp_path, tmp_path)


def test_the_output_folder_inside_the_input_is_not_listed(tmp_path: Path) -> None:
    (tmp_path / "a.tiff").write_bytes(b"")
    (tmp_path / "out" / "a" / "output" / "images").mkdir(parents=True)
    (tmp_path / "out" / "a" / "output" / "images" / "heatmap.mha").write_bytes(b"")
    assert [s.job for s in list_slides(tmp_path, tmp_path / "out")] == ["a"]


def test_job_ids_are_grand_challenge_pks() -> None:
    assert job_id(Path("001.tiff")) == "001"
    assert job_id(Path("_hidden.svs")) == "hidden"
    assert job_id(Path("é.tif")) == "slide"
    assert job_id(Path("patch-3.PNG")) == "patch-3" and job_id(Path("crop.jpeg")) == "crop"


def test_a_csv_lists_slides_relative_to_itself_in_its_order(tmp_path: Path) -> None:
    (tmp_path / "slides.csv").write_text("case,slide\n1,z.tiff\n2,/abs/a.tiff\n")
    slides = list_slides(tmp_path / "slides.csv")
    assert [(s.path, s.job) for s in slides] == [(tmp_path / "z.tiff", "z"), (Path("/abs/a.tiff"), "a")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,case\nx.tiff,1\n", r"slides\.csv: no 'slide' column \(columns: 'path', 'case'\)"),
        ("slide\n", r"slides\.csv: no slides listed"),
        ("slide\nx.tiff\n\n,\n", r"slides\.csv: line 4: empty 'slide' cell"),
        (b"slide\n\xff\xfe.tiff\n", r"slides\.csv: cannot read the slide list"),
    ],
)
def test_bad_csvs_are_one_clear_error(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "slides.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=message):
        list_slides(path)


def test_missing_or_empty_inputs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(KitError, match=r"nowhere: input not found"):
        list_slides(tmp_path / "nowhere")
    with pytest.raises(KitError, match=r"no slide files found") as info:
        list_slides(tmp_path)
    assert "picture" not in str(info.value)
    (tmp_path / "patch.png").write_bytes(b"")  # pictures are named, not searched for: the message says how
    with pytest.raises(KitError, match=r"its 1 picture\(s\) \(PNG, JPEG, BMP\) are not searched for in folders"):
        list_slides(tmp_path)
    (tmp_path / "list.txt").write_text("slide\n")
    with pytest.raises(ConfigError, match=r"list\.txt: expected a folder of slides or a \.csv"):
        list_slides(tmp_path / "list.txt")


@pytest.mark.parametrize("case", ["missing folder", "csv without a slide column", "unreadable csv"])
def test_bad_input_on_the_command_line_is_one_line_and_exit_1(tmp_path: Path, case: str) -> None:
    source = tmp_path / "slides.csv"
    if case == "csv without a slide column":
        source.write_text("path\nx.tiff\n")
    elif case == "unreadable csv":
        source.write_bytes(b"slide\n\xff\n")  # not UTF-8
    else:
        source = tmp_path / "missing"
    result = cohort("--input", str(source), "--output", str(tmp_path / "out"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {source}: "), result.stderr
    assert not (tmp_path / "out").exists()
