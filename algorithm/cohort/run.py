"""A cohort run: list the slides, skip the complete ones, run the rest on Ray, write the tables.

Whatever happens (slides failing, Ctrl-C, SIGTERM), the run ends by writing ``cohort.csv`` (every
slide: done, skipped, failed or not run), ``predictions.json`` (the finished ones),
``index.html`` with ``--qc``, and printing the summary; an interrupted run then raises
its KeyboardInterrupt or Terminated again (exit status 130 or 143) with nothing half-written left behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from algorithm.cohort.cluster import ClusterOptions, RayPool
from algorithm.cohort.layout import INDEX_FILE, QC_FILE, ROW_FILE, TABLE_FILE, CohortLayout
from algorithm.cohort.predictions import PREDICTIONS_FILE, write_predictions
from algorithm.cohort.progress import CohortProgress
from algorithm.cohort.record import DONE, FAILED, NOT_RUN, SKIPPED, SlideRow, table_columns
from algorithm.cohort.slides import CohortSlide
from algorithm.cohort.table import failure, summary_lines, write_table
from algorithm.cohort.worker import WorkerSettings
from algorithm.console import Terminated
from algorithm.errors import KitError
from algorithm.qc.index import write_index

logger = logging.getLogger(__name__)


def completed_rows(
    slides: list[CohortSlide], layout: CohortLayout, settings: WorkerSettings, status: str = SKIPPED
) -> dict[str, SlideRow]:
    """The rows of the slides whose folders are complete (given ``status``), by job id."""
    rows = {}
    for slide in slides:
        if not layout.is_complete(slide.job, settings.task, settings.qc):
            continue
        try:
            row = SlideRow.load(layout.slide_dir(slide.job) / ROW_FILE)
        except KitError:  # an unreadable row: run the slide again
            continue
        row.status, row.slide, row.job = status, str(slide.path), slide.job
        rows[slide.job] = row
    return rows


def run_cohort(
    slides: list[CohortSlide],
    settings: WorkerSettings,
    cluster: ClusterOptions,
    show: Callable[[str], None] = print,
) -> list[SlideRow]:
    """Run every slide (see ``slides.list_slides``) not complete yet; the rows, in the cohort's order."""
    layout = CohortLayout(settings.output)
    settings.output.mkdir(parents=True, exist_ok=True)
    layout.clear_partial()
    rows = completed_rows(slides, layout, settings)
    todo = [slide for slide in slides if slide.job not in rows]
    where = "no workers (nothing to run)" if not todo else "no workers (interrupted while they started)"
    interrupted: KeyboardInterrupt | Terminated | None = None
    progress = CohortProgress(len(slides), len(rows))

    def finished(row: SlideRow) -> None:
        rows[row.job] = row
        progress.row(row)
        if row.status == FAILED:
            logger.warning(failure(row))

    started = time.perf_counter()
    try:
        if todo:
            with RayPool(settings, cluster) as pool:
                where = f"{len(pool.actors)} workers, {pool.where()}"
                for line in pool.lines:
                    logger.info(line)
                pool.run(todo, finished, progress.tick)
    except (KeyboardInterrupt, Terminated) as stop:
        interrupted = stop
    finally:
        progress.close()
        layout.clear_partial()
    seconds = time.perf_counter() - started
    # slides a worker finished while the driver was being interrupted: done, though their rows never came back
    rows.update(completed_rows([s for s in slides if s.job not in rows], layout, settings, DONE))
    ordered = [rows.get(s.job) or SlideRow(slide=str(s.path), job=s.job, status=NOT_RUN) for s in slides]
    summary = summary_lines(ordered, seconds, where, layout)
    written = _write_files(ordered, settings, layout, summary)
    for line in [*summary, "written: " + ", ".join(written)]:
        show(line)
    if interrupted is not None:
        raise interrupted
    return ordered


def _write_files(rows: list[SlideRow], settings: WorkerSettings, layout: CohortLayout, summary: list[str]) -> list[str]:
    """cohort.csv, predictions.json and (--qc) index.html; what was written, for the summary."""
    root = layout.root
    write_table(root / TABLE_FILE, rows, settings.task)
    jobs = write_predictions(rows, settings.task, layout)
    written = [f"{root / TABLE_FILE}", f"{root / PREDICTIONS_FILE} ({jobs} jobs)"]
    if settings.qc:
        pictures = [f"{row.job}/{QC_FILE}" if (layout.slide_dir(row.job) / QC_FILE).is_file() else None for row in rows]
        write_index(
            root / INDEX_FILE,
            f"Cohort: {root.name} ({settings.task.name})",
            table_columns(settings.task),
            [row.cells(settings.task) for row in rows],
            pictures,
            summary,
        )
        written.append(f"{root / INDEX_FILE}")
    return written
