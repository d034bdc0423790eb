"""``index.html``: every slide's QC picture beside its row of the cohort table, sortable, one file.

Self-contained (inline style and script, pictures linked by relative paths), so the output
folder can be copied or zipped and opened anywhere, offline. Click a column's header to sort by it
(numbers as numbers, again to reverse); ``index.html#sort=seconds:desc`` opens sorted.
Each picture is shown at up to :data:`THUMBNAIL_PX` wide; clicking it opens it at full size
(1:1, where its text and circles can be read) in a viewer that steps through the rows in their
order (arrow keys; Esc closes), and a checkbox (or ``#full``) shows every picture at full size in
the table. Without the script, a click opens the PNG itself.
On load the page counts the pictures that loaded into ``#pictures-loaded``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from algorithm.io.atomic import write_bytes_atomic

EAGER_PICTURES = 50  # later rows load their pictures only when scrolled to
THUMBNAIL_PX = 512  # a picture's width in the table (at most; half a 1024 px picture): a click shows it 1:1
LONG_COLUMNS = ("slide", "error")  # paths and messages: wrapped anywhere, not allowed to widen the table

STYLE = (
    """
body { font: 14px sans-serif; margin: 1em; }
pre { background: #f4f4f4; padding: .5em; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; }
th { background: #eee; cursor: pointer; position: sticky; top: 0; z-index: 1; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.failed { color: #b00; font-weight: bold; }
td.long { min-width: 12em; max-width: 22em; overflow-wrap: anywhere; }
td.name { font-weight: bold; }
body:has(#full-size:checked) img.qc { max-width: none; }
#viewer { max-width: 98vw; max-height: 96vh; padding: 0; border: 1px solid #888; overflow: auto; }
#viewer::backdrop { background: rgba(0, 0, 0, .6); }
#viewer nav { position: sticky; top: 0; left: 0; background: #eee; padding: 4px 6px; }
#viewer img { display: block; max-width: none; }
"""
    f"img.qc {{ display: block; max-width: {THUMBNAIL_PX}px; cursor: zoom-in; }}\n"
)

SCRIPT = """
(function () {
  const table = document.getElementById("cohort");
  const heads = Array.from(table.tHead.rows[0].cells);
  function key(row, i) { const c = row.cells[i]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent; }
  function sortBy(i, desc) {
    const body = table.tBodies[0], rows = Array.from(body.rows);
    const numeric = rows.every(r => key(r, i).trim() === "" || !isNaN(Number(key(r, i))));
    rows.sort((a, b) => {
      let x = key(a, i), y = key(b, i);
      if (numeric) { x = x.trim() === "" ? -Infinity : Number(x); y = y.trim() === "" ? -Infinity : Number(y); }
      const c = numeric ? x - y : x.localeCompare(y, undefined, {numeric: true});
      return desc ? -c : c;
    });
    rows.forEach(r => body.appendChild(r));
    heads.forEach(h => h.classList.remove("sorted-asc", "sorted-desc"));
    heads[i].classList.add(desc ? "sorted-desc" : "sorted-asc");
    table.dataset.sortedBy = heads[i].dataset.column + (desc ? ":desc" : ":asc");
  }
  heads.forEach((h, i) => h.addEventListener("click", () => sortBy(i, h.classList.contains("sorted-asc"))));
  const wanted = /sort=([^:&]+)(:desc)?/.exec(location.hash);
  if (wanted) {
    const i = heads.findIndex(h => h.dataset.column === wanted[1]);
    if (i >= 0) sortBy(i, Boolean(wanted[2]));
  }
  const full = document.getElementById("full-size");
  if (/(^#|&)full(&|$)/.test(location.hash)) full.checked = true;
  const viewer = document.getElementById("viewer"), big = document.getElementById("viewer-img");
  let current = -1;
  function links() { return Array.from(table.tBodies[0].querySelectorAll("a.qc")); }
  function show(i) {
    const all = links();
    if (!all.length) return;
    current = (i + all.length) % all.length;
    const a = all[current];
    big.src = a.getAttribute("href");
    big.alt = a.dataset.title;
    const where = " (" + (current + 1) + " of " + all.length + ")";
    document.getElementById("viewer-title").textContent = a.dataset.title + where;
    document.getElementById("viewer-open").href = a.getAttribute("href");
    if (!viewer.open) viewer.showModal();
  }
  table.addEventListener("click", e => {
    const a = e.target.closest("a.qc");
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    show(links().indexOf(a));
  });
  document.getElementById("viewer-prev").addEventListener("click", () => show(current - 1));
  document.getElementById("viewer-next").addEventListener("click", () => show(current + 1));
  viewer.addEventListener("click", e => { if (e.target === viewer) viewer.close(); });
  document.addEventListener("keydown", e => {
    if (viewer.open && e.key === "ArrowRight") show(current + 1);
    if (viewer.open && e.key === "ArrowLeft") show(current - 1);
  });
  window.addEventListener("load", () => {
    const pictures = Array.from(document.querySelectorAll("img.qc"));
    const loaded = pictures.filter(p => p.complete && p.naturalWidth > 0).length;
    document.getElementById("pictures-loaded").textContent = loaded + " of " + pictures.length;
  });
})();
"""


def _cell(value: str, column: str) -> str:
    classes = [
        *(["failed"] if column == "status" and value == "failed" else []),
        *(["long"] if column in LONG_COLUMNS else []),
        *(["name"] if column == "name" else []),
    ]
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{html.escape(value)}</td>"


def _title(row: Sequence[str], columns: Sequence[str]) -> str:
    """A picture's title in the viewer: the row's image name (else its slide) and its job."""
    cells = dict(zip(columns, row, strict=True))
    parts = [cells.get("name") or cells.get("slide", ""), cells.get("job", "")]
    return " - ".join(part for part in parts if part)


def _picture_cell(picture: str | None, title: str, number: int) -> str:
    if picture is None:
        return '<td data-sort="">no picture</td>'
    src, label = html.escape(picture), html.escape(title)
    lazy = ' loading="lazy"' if number >= EAGER_PICTURES else ""
    return (
        f'<td data-sort="{src}"><a class="qc" href="{src}" data-title="{label}" title="open at full size">'
        f'<img class="qc" src="{src}" alt="QC picture of {label}"{lazy}></a></td>'
    )


VIEWER = (
    '<dialog id="viewer"><form method="dialog"><nav>'
    '<button type="button" id="viewer-prev">&larr; previous</button> '
    '<button type="button" id="viewer-next">next &rarr;</button> <button>close (Esc)</button> '
    '<b id="viewer-title"></b> <a id="viewer-open" href="">the PNG alone</a></nav></form>'
    '<img id="viewer-img" alt=""></dialog>\n'
)


def index_html(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    pictures: Sequence[str | None],
    summary: Sequence[str] = (),
) -> str:
    """The page: ``rows`` (one per slide, cells in ``columns``' order) and each row's picture (a relative path)."""
    head = "".join(f'<th data-column="{html.escape(c)}">{html.escape(c)}</th>' for c in ("picture", *columns))
    body = []
    for number, (row, picture) in enumerate(zip(rows, pictures, strict=True)):
        image = _picture_cell(picture, _title(row, columns), number)
        cells = "".join(_cell(value, column) for value, column in zip(row, columns, strict=True))
        body.append(f"<tr>{image}{cells}</tr>")
    text = html.escape("\n".join(summary))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<pre>{text}</pre>\n"
        '<p>Pictures loaded: <span id="pictures-loaded">(script not run)</span>. '
        "Click a column header to sort, a picture to see it at full size (&larr; &rarr; for the previous or next "
        'row, Esc to close). <label><input type="checkbox" id="full-size"> every picture at full size</label></p>\n'
        f'<table id="cohort"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>\n"
        f"{VIEWER}<script>{SCRIPT}</script>\n</body></html>\n"
    )


def write_index(
    path: Path,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    pictures: Sequence[str | None],
    summary: Sequence[str] = (),
) -> None:
    """Write :func:`index_html` to ``path`` atomically."""
    write_bytes_atomic(path, index_html(title, columns, rows, pictures, summary).encode("utf-8"))
