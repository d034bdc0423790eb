"""``cohort.csv`` and the one-screen summary printed at the end of a run."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from algorithm.cohort.layout import CohortLayout
from algorithm.cohort.record import DONE, FAILED, NOT_RUN, SKIPPED, SlideRow, table_columns
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_bytes_atomic

MAX_ERRORS_SHOWN = 10


def table_text(rows: Sequence[SlideRow], task: Task) -> str:
    """The table as CSV text: a header, then one row per slide in the cohort's order."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table_columns(task))
    for row in rows:
        writer.writerow(row.cells(task))
    return text.getvalue()


def write_table(path: Path, rows: Sequence[SlideRow], task: Task) -> None:
    """Write ``cohort.csv`` atomically."""
    write_bytes_atomic(path, table_text(rows, task).encode("utf-8"))


def failure(row: SlideRow) -> str:
    """A failed slide in one line: its error, which names the slide's file, else prefixed with it."""
    return f"failed: {row.error}" if row.slide in row.error else f"failed: {row.slide}: {row.error}"


def summary_lines(
    rows: Sequence[SlideRow],
    seconds: float,
    where: str,
    layout: CohortLayout,
) -> list[str]:
    """The run in a screenful: counts by status, throughput, time per slide, the failures."""
    counts = Counter(row.status for row in rows)
    ran = [row for row in rows if row.status in (DONE, FAILED)]
    times = [row.seconds for row in rows if row.status == DONE and row.seconds is not None]
    lines = [
        f"cohort: {len(rows)} slides: {counts[DONE]} done, {counts[SKIPPED]} skipped (already complete), "
        f"{counts[FAILED]} failed, {counts[NOT_RUN]} not run; on {where}",
    ]
    if ran and seconds > 0:
        lines.append(f"time: {seconds:.1f} s for {len(ran)} slides, {3600 * len(ran) / seconds:.0f} slides/hour")
    if times:
        lines.append(
            f"per slide (in its worker): median {statistics.median(times):.1f} s, "
            f"min {min(times):.1f} s, max {max(times):.1f} s"
        )
    failed = [row for row in rows if row.status == FAILED]
    for row in failed[:MAX_ERRORS_SHOWN]:
        lines.append(failure(row))
    if len(failed) > MAX_ERRORS_SHOWN:
        lines.append(f"... and {len(failed) - MAX_ERRORS_SHOWN} more failed: see {layout.root / 'cohort.csv'}")
    return lines
