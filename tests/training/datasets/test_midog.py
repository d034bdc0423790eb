from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import ConfigError
from training.datasets.midog import apply_midog_split, read_midog_database, read_midog_split


def test_reads_the_real_midog_database(shared_data: Path) -> None:
    slides = read_midog_database(shared_data / "midog" / "MIDOG.json")
    assert len(slides) == 200
    assert sum(len(s.mitoses) for s in slides) == 1721
    assert sum(len(s.imposters) for s in slides) == 2714
    first = slides[0]
    assert first.file_name == "001.tiff" and (first.width, first.height) == (7215, 5412)
    # the first annotation: bbox [4336, 346, 4386, 396], an imposter
    assert np.any(np.all(first.imposters == [4361.0, 371.0], axis=1))
    assert first.box_size == 50.0
    assert all(len(s.points) == 0 for s in slides[150:])  # the Leica images carry no labels


def test_split_tree_gives_scanner_and_split(shared_data: Path) -> None:
    split = read_midog_split(shared_data / "midog" / "train_val_split.txt")
    assert len(split) == 200
    assert split["001.tiff"] == ("A", "train")
    assert {s for _, s in split.values()} == {"train", "valid"}
    assert {d for d, _ in split.values()} == {"A", "B", "C", "D"}
    slides = read_midog_database(shared_data / "midog" / "MIDOG.json")
    apply_midog_split(slides, split)
    assert slides[60].domain == "B"


def test_a_file_that_is_not_a_split_is_refused_briefly(shared_data: Path, tmp_path: Path) -> None:
    database = shared_data / "midog" / "MIDOG.json"  # the database given as the split file by mistake
    with pytest.raises(ConfigError) as error:
        read_midog_split(database)
    message = str(error.value)
    assert message.startswith(f"{database}: not a MIDOG split file (an indented tree MIDOG/<scanner>/")
    assert 'line 1, \'{"info": {"description": "MItosis Domain...\'' in message and len(message) < 300
    binary = tmp_path / "split.bin"
    binary.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match="not a MIDOG split file .*: not text$"):
        read_midog_split(binary)
    empty = tmp_path / "empty.txt"
    empty.write_text("MIDOG/\n    A/\n")
    with pytest.raises(ConfigError, match="it lists no image$"):
        read_midog_split(empty)


def test_coco_style_boxes_are_refused(tmp_path: Path) -> None:
    db = {
        "images": [{"id": 1, "file_name": "a.tiff", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "mitotic figure"}],
        "annotations": [{"bbox": [50, 50, 10, 10], "category_id": 1, "image_id": 1, "id": 1}],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(db))
    with pytest.raises(ConfigError, match=r"coco\.json: annotation 0 has bbox .* expected \[x1, y1, x2, y2\]"):
        read_midog_database(path)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_midog_database(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        read_midog_database(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"other\.json: not a MIDOG database"):
        read_midog_database(tmp_path / "other.json")
