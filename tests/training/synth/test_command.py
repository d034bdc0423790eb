"""``python -m training synth``: the slide-level label (--positive) and its slide-labels.csv."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from algorithm.console import configure_logging, run_main
from tests.unprivileged import run_limited
from training.synth.command import DESCRIPTION, SLIDE_LABELS, add_arguments, configs, run
from training.synth.scanners import get_scanner

SMALL = ["--size", "512x400", "--mitoses", "1", "--imposters", "1", "--label", "tumour", "--quiet"]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--out", "unused", *argv])


def main(argv: list[str]) -> int:
    """``python -m training synth ARGV`` as training.cli runs it (its logging, its error lines), this command only."""

    def synth(argv: list[str] | None) -> int:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(argv)
        configure_logging(quiet=args.quiet)
        return run(args)

    return run_main(synth, argv)


def _positive(out: Path, name: str) -> bool:
    return json.loads((out / f"{name}.truth.json").read_text()).get("positive", False)


def test_positive_yes_writes_and_merges_the_slide_labels(tmp_path):
    labels = tmp_path / SLIDE_LABELS
    labels.write_text("slide,label\nsynth-000008,0\nold-slide,1\n")
    assert main([*SMALL, "--out", str(tmp_path), "--seed", "7", "--count", "2", "--positive", "yes"]) == 0
    # Merged (old-slide kept), replaced (synth-000008 now positive), sorted by slide name.
    assert labels.read_text() == "slide,label\nold-slide,1\nsynth-000007,1\nsynth-000008,1\n"
    assert _positive(tmp_path, "synth-000007") and _positive(tmp_path, "synth-000008")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{SLIDE_LABELS}")]  # no temporary left


def test_positive_no_writes_no_labels_and_negative_slides(tmp_path):
    assert main([*SMALL, "--out", str(tmp_path), "--seed", "7"]) == 0
    assert not (tmp_path / SLIDE_LABELS).exists()
    assert not _positive(tmp_path, "synth-000007")
    assert not any(cfg.positive for cfg, _, _ in configs(_args("--count", "8")))


def test_positive_random_draws_both_labels_from_the_seed(tmp_path):
    drawn = [cfg.positive for cfg, _, _ in configs(_args("--count", "12", "--positive", "random"))]
    assert set(drawn) == {True, False}
    assert drawn == [cfg.positive for cfg, _, _ in configs(_args("--count", "12", "--positive", "random"))]
    assert main([*SMALL, "--out", str(tmp_path), "--seed", "0", "--count", "4", "--positive", "random"]) == 0
    rows = (tmp_path / SLIDE_LABELS).read_text().splitlines()
    assert rows[0] == "slide,label" and len(rows) == 5
    for row in rows[1:]:
        name, label = row.split(",")
        assert label == str(int(_positive(tmp_path, name))) == str(int(drawn[int(name[-6:])])), row


def test_positive_normal_slide_is_warned_about(tmp_path, capsys):
    args = [*SMALL, "--out", str(tmp_path), "--seed", "3", "--positive", "yes", "--label", "normal"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: synth-000003 is positive but its label is normal" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / SLIDE_LABELS).read_text() == "slide,label\nsynth-000003,1\n"


def test_a_broken_labels_file_is_an_error_before_any_slide(tmp_path, capsys):
    (tmp_path / SLIDE_LABELS).write_text("name,positive\nx,1\n")
    assert main([*SMALL, "--out", str(tmp_path), "--positive", "yes"]) == 1
    assert f"error: {tmp_path / SLIDE_LABELS}: expected the header 'slide,label'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.tiff"))


def test_help_names_the_labels_file_and_the_tumour_it_needs():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert SLIDE_LABELS in DESCRIPTION and SLIDE_LABELS in text and "--label tumour" in text


def test_scanner_sampled_gives_each_slide_its_own_scanner_recorded_in_its_truth(tmp_path):
    cfgs = [cfg for cfg, _, _ in configs(_args("--count", "3", "--seed", "40", "--scanner", "sampled"))]
    assert [c.scanner for c in cfgs] == ["S40", "S41", "S42"]
    assert main([*SMALL, "--out", str(tmp_path), "--seed", "40", "--scanner", "sampled"]) == 0
    truth = json.loads((tmp_path / "synth-000040.truth.json").read_text())
    assert truth["scanner"]["name"] == "S40"
    assert truth["scanner"]["blur_um"] == get_scanner("S40").blur_um


def test_runs_writing_one_folder_at_once_keep_each_others_labels(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from training.synth.command import add_slide_label, read_slide_labels

    path = tmp_path / SLIDE_LABELS
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: add_slide_label(path, f"slide-{i:03d}", i % 2), range(64)))
    assert read_slide_labels(path) == {f"slide-{i:03d}": i % 2 for i in range(64)}


def test_a_slide_the_disk_refuses_leaves_none_of_its_files(tmp_path):
    """The slide's TIFF refused (a file-size limit, as a full disk would): its annotations and masks, written
    before it, go too, so no folder holds a .midog.json whose slide is missing."""
    out = tmp_path / "out"
    args = ("--out", str(out), "--count", "1", "--size", "1536x1536", "--mitoses", "3", "--quiet")
    result = run_limited(100_000, "-m", "training", "synth", *args)
    assert result.returncode == 1, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"error: {out / 'synth-000000.tiff'}: cannot be written: file too large"
    )
    assert list(out.iterdir()) == []
