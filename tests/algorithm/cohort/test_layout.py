from __future__ import annotations

from pathlib import Path

from algorithm.cohort.layout import PARTIAL, ROW_FILE, CohortLayout
from algorithm.interface.tasks import ALL, MIDOG


def test_a_slide_folder_appears_whole_and_replaces_an_incomplete_one(tmp_path: Path) -> None:
    layout = CohortLayout(tmp_path)
    (tmp_path / "a" / "output").mkdir(parents=True)
    (tmp_path / "a" / "output" / "stale.json").write_text("{}")
    assert not layout.is_complete("a", MIDOG, qc=False)
    staging = layout.staging("a")
    (staging / "output").mkdir()
    (staging / "output" / "mitotic-figures.json").write_text("{}")
    (staging / ROW_FILE).write_text("{}")
    assert not layout.is_complete("a", MIDOG, qc=False)  # nothing in place until the commit
    layout.commit(staging, "a")
    assert layout.is_complete("a", MIDOG, qc=False)
    assert not layout.is_complete("a", MIDOG, qc=True)  # no picture
    assert not layout.is_complete("a", ALL, qc=False)  # another task's outputs
    assert not (tmp_path / "a" / "output" / "stale.json").exists()
    assert [p.name for p in (tmp_path / PARTIAL).iterdir()] == []
    layout.staging("b")
    layout.clear_partial()
    assert not (tmp_path / PARTIAL).exists()
