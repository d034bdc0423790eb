"""MIDOG's annotation database and train/validation split.

The database is COCO-like JSON, but ``bbox`` is ``[x1, y1, x2, y2]`` (50 x 50 px
boxes centred on the cell), not COCO's ``[x, y, w, h]``. Category 1 is a mitotic
figure, 2 an imposter ("hard negative"). MIDOG 2021's 200 training images come
from four scanners, 50 each, in id order; the split file is an indented tree
``MIDOG/<scanner>/<train|valid>/<file>``. Synthetic slides write the same format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from algorithm.errors import ConfigError
from training.datasets.annotations import SlideAnnotations

MIDOG_2021_SCANNERS = ("Hamamatsu XR", "Hamamatsu S360", "Aperio CS2", "Leica GT450")


def read_midog_database(path: str | Path, image_folder: str | Path | None = None) -> list[SlideAnnotations]:
    """Every image of a MIDOG-format database, with its cells; slides located in ``image_folder``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        images = {int(im["id"]): im for im in data["images"]}
        categories = {int(c["id"]) for c in data["categories"]}
        annotations = data["annotations"]
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: annotation database not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a MIDOG database (needs images, categories, annotations: {exc})") from exc
    cells: dict[int, list[tuple[float, float, int, float]]] = {i: [] for i in images}
    for index, ann in enumerate(annotations):
        try:
            x1, y1, x2, y2 = (float(v) for v in ann["bbox"])
            image_id, category = int(ann["image_id"]), int(ann["category_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: annotation {index} is malformed ({exc})") from exc
        if image_id not in images or category not in categories:
            raise ConfigError(f"{path}: annotation {index} names unknown image {image_id} or category {category}")
        if x2 <= x1 or y2 <= y1:
            raise ConfigError(f"{path}: annotation {index} has bbox {ann['bbox']}; expected [x1, y1, x2, y2]")
        cells[image_id].append(((x1 + x2) / 2, (y1 + y2) / 2, category, x2 - x1))
    folder = Path(image_folder) if image_folder is not None else path.parent
    slides = []
    for image_id in sorted(images):
        im = images[image_id]
        rows = cells[image_id]
        slides.append(
            SlideAnnotations(
                file_name=str(im["file_name"]),
                width=int(im["width"]),
                height=int(im["height"]),
                points=np.array([(x, y) for x, y, _, _ in rows], dtype=np.float64).reshape(-1, 2),
                labels=np.array([c for _, _, c, _ in rows], dtype=np.int64),
                box_size=float(np.median([s for *_, s in rows])) if rows else 50.0,
                domain=im.get("domain") or im.get("scanner"),
                path=folder / str(im["file_name"]),
            )
        )
    return slides


def read_midog_split(path: str | Path) -> dict[str, tuple[str, str]]:
    """``file name -> (scanner folder, split)`` from MIDOG's indented split tree; ConfigError, briefly, for a file
    that is not one (the database's JSON given by mistake, a binary file)."""
    path = Path(path)
    what = f"{path}: not a MIDOG split file (an indented tree MIDOG/<scanner>/<train|valid>/<file>)"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: split file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: not text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the split file ({exc.strerror or exc})") from exc
    stack: list[tuple[int, str]] = []
    result: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip(" "))
        name = line.strip().rstrip("/")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if line.strip().endswith("/"):
            stack.append((depth, name))
            continue
        folders = [n for _, n in stack]
        if len(folders) < 2:
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise ConfigError(f"{what}: line {number}, {shown!r}, is not under <scanner>/<split>/")
        result[name] = (folders[-2], folders[-1])
    if not result:
        raise ConfigError(f"{what}: it lists no image")
    return result


def apply_midog_split(slides: list[SlideAnnotations], split: dict[str, tuple[str, str]]) -> None:
    """Set each slide's domain and split from the split file (MIDOG 2021 domains by scanner folder)."""
    for slide in slides:
        if slide.file_name in split:
            slide.domain, slide.split = split[slide.file_name]
