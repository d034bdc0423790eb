#!/usr/bin/env python3
"""Compare an algorithm's outputs with the expected ones, with tolerances: the check behind ``test.sh``.

    python3 test/compare_outputs.py EXPECTED ACTUAL [--distance-mm 0.0005] [--probability-atol 0.02]
                                    [--rtol 1e-6] [--atol 1e-9] [--min-probability 0]
                                    [--value-rtol 0.02] [--line-mm 0.01] [--mask-fraction 0.001] [--gpu]

EXPECTED and ACTUAL are two JSON files or two output folders. Folders must
hold the same files (``.json`` and ``.mha`` compared as below, other files
byte for byte).

- "Multiple points" (an object with ``"type": "Multiple points"`` and a
  ``points`` list): points are matched one to one, nearest first, within
  ``--distance-mm`` (default 0.0005 mm = 0.5 um; x, y and z). Matched points
  must have equal ``name`` s and probabilities within ``--probability-atol``
  (default 0.02); their other keys compare as below. Every expected point
  must be matched and no actual point may be left over. ``--min-probability
  P`` (default 0, strict) forgives unmatched points whose probability is below
  P + the probability tolerance, for runs on other hardware where candidates
  at the model's score floor come and go; they are listed as "ignored".
- A file holding one number (a "Float" output such as a tumour likelihood or
  a major axis): ``|actual - expected| <= probability-atol + value-rtol *
  |expected|`` (default 0.02 + 2 %).
- "Distance measurement" (``"type": "Distance measurement"``): ``start`` and
  ``end`` each within ``--line-mm`` (default 0.01 mm, a few heatmap pixels).
- ``.mha`` images: the same size, spacing and origin; heatmaps (float
  voxels) with every voxel within ``--probability-atol``; masks (MET_UCHAR
  voxels, e.g. the nuclei task's 0/1 mask) with at most ``--mask-fraction``
  of the voxels different (default 0.001 = 0.1 %: torch builds differ
  slightly, and a probability near the threshold may flip). MetaImage is
  parsed here (raw or zlib data, MET_FLOAT/MET_DOUBLE/MET_UCHAR), no imaging
  library needed.
- Any other number (int or float, not bool): ``|actual - expected| <= atol +
  rtol * |expected|``. Strings, booleans and nulls equal; objects with the
  same keys; lists of the same length, item by item.

``--gpu``: the tolerances for a run on a GPU against outputs made on the CPU
(``test.sh`` with a GPU): points within 0.002 mm (2 um, far inside MIDOG's
7.5 um hit radius: under mixed precision a near-tie in NMS may keep the
other of two overlapping boxes), probabilities within 0.05 (nvJPEG decodes
the slide's JPEG tiles slightly differently from libjpeg-turbo: candidates
moved by up to 0.03 on an H100), unmatched points below 0.1 forgiven. An
option given explicitly wins over the preset.

Prints each difference with its path, then ``PASS: ...`` or ``FAIL: ...``.
Exit status 0 on PASS, 1 on FAIL, 2 when a file cannot be read or parsed.
Standard library only, so it runs with any ``python3`` (3.9+) on the host.
"""

from __future__ import annotations

import argparse
import array
import json
import math
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # typing.TypeGuard is Python 3.10+; this script runs on 3.9, never evaluating annotations
    from typing import TypeGuard

MULTIPLE_POINTS = "Multiple points"
DISTANCE = "Distance measurement"
MHA_TYPES = {"MET_FLOAT": "f", "MET_DOUBLE": "d", "MET_UCHAR": "B"}
SHOW = 10  # differences listed per kind before "... and N more"


@dataclass(frozen=True)
class Tolerance:
    distance_mm: float = 0.0005
    probability_atol: float = 0.02
    rtol: float = 1e-6
    atol: float = 1e-9
    min_probability: float = 0.0
    value_rtol: float = 0.02
    line_mm: float = 0.01
    mask_fraction: float = 0.001


GPU = Tolerance(distance_mm=0.002, probability_atol=0.05, min_probability=0.1)  # --gpu; see the module docstring


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not failures: matched counts, ignored points

    def __bool__(self) -> bool:
        return not self.differences


class ReadError(Exception):
    """A file that cannot be read or is not JSON."""


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_points(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == MULTIPLE_POINTS and isinstance(value.get("points"), list)


def _fmt_point(p: Any) -> str:
    if not isinstance(p, dict):
        return repr(p)
    xyz = p.get("point")
    where = (
        "(" + ", ".join(f"{c:.6f}" if _is_number(c) else repr(c) for c in xyz) + ") mm"
        if isinstance(xyz, list)
        else repr(xyz)
    )
    prob = p.get("probability")
    prob_text = f"{prob:.4f}" if _is_number(prob) else repr(prob)
    return f"{where}, probability {prob_text}, name {p.get('name')!r}"


def _coordinates(p: Any) -> tuple[float, float, float] | None:
    xyz = p.get("point") if isinstance(p, dict) else None
    if isinstance(xyz, list) and len(xyz) in (2, 3) and all(_is_number(c) and math.isfinite(c) for c in xyz):
        return (float(xyz[0]), float(xyz[1]), float(xyz[2]) if len(xyz) == 3 else 0.0)
    return None


def match_points(
    expected: list, actual: list, distance: float
) -> tuple[list[tuple[int, int, float]], list[int], list[int]]:
    """One-to-one matches ``(i_expected, j_actual, distance)``, closest pairs first, within ``distance``.

    Greedy on ascending distance: with a tolerance far below the detector's
    NMS radius every point has at most one partner in reach, where greedy is
    optimal. Pairs are found through a grid of ``distance``-sized cells, so
    thousands of points take milliseconds. Returns the matches and the
    unmatched indices of each side (points without valid coordinates are
    never matched).
    """
    cell = distance if distance > 0 else 1.0
    grid: dict[tuple[int, int], list[tuple[int, tuple[float, float, float]]]] = {}  # cell: (j, its coordinates)
    for j, p in enumerate(actual):
        xyz = _coordinates(p)
        if xyz is not None:
            grid.setdefault((math.floor(xyz[0] / cell), math.floor(xyz[1] / cell)), []).append((j, xyz))
    pairs = []
    for i, p in enumerate(expected):
        xyz = _coordinates(p)
        if xyz is None:
            continue
        cx, cy = math.floor(xyz[0] / cell), math.floor(xyz[1] / cell)
        for gx in (cx - 1, cx, cx + 1):
            for gy in (cy - 1, cy, cy + 1):
                for j, other in grid.get((gx, gy), ()):
                    d = math.dist(xyz, other)
                    if d <= distance:
                        pairs.append((d, i, j))
    pairs.sort()
    used_e: set[int] = set()
    used_a: set[int] = set()
    matches = []
    for d, i, j in pairs:
        if i not in used_e and j not in used_a:
            used_e.add(i)
            used_a.add(j)
            matches.append((i, j, d))
    missing = [i for i in range(len(expected)) if i not in used_e]
    extra = [j for j in range(len(actual)) if j not in used_a]
    return sorted(matches), missing, extra


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= SHOW:
        return lines
    return lines[:SHOW] + [f"... and {len(lines) - SHOW} more"]


def compare_points(expected: dict, actual: dict, tol: Tolerance, path: str, report: Report) -> None:
    others = {k: v for k, v in expected.items() if k != "points"}
    compare_values(others, {k: v for k, v in actual.items() if k != "points"}, tol, path, report)
    where = f"{path}.points" if path else "points"
    exp, act = expected["points"], actual["points"]
    matches, missing, extra = match_points(exp, act, tol.distance_mm)

    def forgiven(p: Any) -> bool:
        prob = p.get("probability") if isinstance(p, dict) else None
        return tol.min_probability > 0 and _is_number(prob) and prob < tol.min_probability + tol.probability_atol

    ignored = [("expected", exp[i]) for i in missing if forgiven(exp[i])]
    ignored += [("actual", act[j]) for j in extra if forgiven(act[j])]
    missing = [i for i in missing if not forgiven(exp[i])]
    extra = [j for j in extra if not forgiven(act[j])]

    mismatched = []
    worst_d = worst_p = 0.0
    for i, j, d in matches:
        e, a = exp[i], act[j]
        worst_d = max(worst_d, d)
        problems = []
        if e.get("name") != a.get("name"):
            problems.append(f"name {e.get('name')!r} != {a.get('name')!r}")
        pe, pa = e.get("probability"), a.get("probability")
        if _is_number(pe) and _is_number(pa):
            worst_p = max(worst_p, abs(pa - pe))
            if not abs(pa - pe) <= tol.probability_atol:
                problems.append(f"probability {pe:.4f} != {pa:.4f} (difference {pa - pe:+.4f})")
        elif pe != pa:
            problems.append(f"probability {pe!r} != {pa!r}")
        sub = Report()
        rest = ("point", "name", "probability")
        compare_values(
            {k: v for k, v in e.items() if k not in rest},
            {k: v for k, v in a.items() if k not in rest},
            tol,
            f"{where}.{i}",
            sub,
        )
        problems.extend(sub.differences)
        if problems:
            mismatched.append(f"{where}.{i} at {_fmt_point(e)}: " + "; ".join(problems))

    report.differences.extend(_listed(mismatched))
    report.differences.extend(
        _listed(
            [
                f"{where}: missing (no actual point within {tol.distance_mm * 1000:g} um): {_fmt_point(exp[i])}"
                for i in missing
            ]
        )
    )
    report.differences.extend(
        _listed(
            [
                f"{where}: extra (no expected point within {tol.distance_mm * 1000:g} um): {_fmt_point(act[j])}"
                for j in extra
            ]
        )
    )
    summary = (
        f"{where}: {len(exp)} expected, {len(act)} actual, {len(matches)} matched "
        f"(largest distance {worst_d * 1000:.3g} um, largest probability difference {worst_p:.3g})"
    )
    if ignored:
        summary += f", {len(ignored)} unmatched below probability {tol.min_probability:g} ignored"
    report.notes.append(summary)
    if missing or extra or mismatched:
        report.differences.append(
            f"{where}: {len(missing)} missing, {len(extra)} extra, "
            f"{len(mismatched)} matched with different name/probability"
        )


def _is_endpoint(value: Any) -> TypeGuard[list[int | float]]:
    return isinstance(value, list) and len(value) in (2, 3) and all(_is_number(c) for c in value)


def compare_line(expected: dict, actual: dict, tol: Tolerance, path: str, report: Report) -> None:
    rest = {"start", "end", "type"}  # the types are equal: that is how this was called
    compare_values(
        {k: v for k, v in expected.items() if k not in rest},
        {k: v for k, v in actual.items() if k not in rest},
        tol,
        path,
        report,
    )
    for key in ("start", "end"):
        e, a = expected.get(key), actual.get(key)
        if not (_is_endpoint(e) and _is_endpoint(a)):
            report.differences.append(f"{path}.{key}: expected a point [x, y, z], got {a!r:.80}")
        elif math.dist(e[:2], a[:2]) > tol.line_mm:
            report.differences.append(
                f"{path}.{key}: {a} is {math.dist(e[:2], a[:2]) * 1000:.3g} um from the "
                f"expected {e} (tolerance {tol.line_mm * 1000:g} um)"
            )


def compare_values(expected: Any, actual: Any, tol: Tolerance, path: str, report: Report) -> None:
    where = path or "(root)"
    if _is_points(expected) and _is_points(actual):
        compare_points(expected, actual, tol, path, report)
    elif all(isinstance(v, dict) and v.get("type") == DISTANCE for v in (expected, actual)):
        compare_line(expected, actual, tol, path or "line", report)
    elif _is_number(expected) and _is_number(actual):
        if math.isnan(expected) and math.isnan(actual):
            return
        if not abs(actual - expected) <= tol.atol + tol.rtol * abs(expected):
            report.differences.append(
                f"{where}: expected {expected!r}, got {actual!r} (difference {actual - expected:.3g})"
            )
    elif isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                report.differences.append(f"{sub}: missing in actual")
            elif key not in expected:
                report.differences.append(f"{sub}: not expected (extra key in actual)")
            else:
                compare_values(expected[key], actual[key], tol, sub, report)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            report.differences.append(f"{where}: expected a list of {len(expected)} items, got {len(actual)}")
            return
        # zip(strict=) is Python 3.10+ (this runs on 3.9); the lengths are equal, checked above.
        for i, (e, a) in enumerate(zip(expected, actual)):  # noqa: B905
            compare_values(e, a, tol, f"{path}.{i}" if path else str(i), report)
    elif type(expected) is not type(actual) and not (_is_number(expected) and _is_number(actual)):
        report.differences.append(
            f"{where}: expected {type(expected).__name__} {expected!r:.80}, got {type(actual).__name__} {actual!r:.80}"
        )
    elif expected != actual:
        report.differences.append(f"{where}: expected {expected!r:.80}, got {actual!r:.80}")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReadError(f"{path}: not valid JSON ({exc})") from exc


def read_mha(path: Path) -> tuple[dict[str, str], array.array]:
    """A MetaImage file's header fields and its voxels (local data, raw or zlib-compressed)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    header: dict[str, str] = {}
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:
            break
        key, _, value = data[offset:end].decode("ascii", "replace").partition("=")
        header[key.strip()] = value.strip()
        offset = end + 1
        if key.strip() == "ElementDataFile":
            break
    if header.get("ElementDataFile") != "LOCAL" or header.get("ElementType") not in MHA_TYPES:
        raise ReadError(f"{path}: not a MetaImage with local {'/'.join(MHA_TYPES)} data")
    raw = data[offset:]
    if header.get("CompressedData", "False").lower() == "true":
        try:
            raw = zlib.decompress(raw)
        except zlib.error as exc:
            raise ReadError(f"{path}: corrupt compressed data ({exc})") from exc
    values = array.array(MHA_TYPES[header["ElementType"]])
    try:
        values.frombytes(raw)
    except ValueError as exc:
        raise ReadError(f"{path}: {len(raw)} bytes of data do not fit {header['ElementType']}") from exc
    if header.get("BinaryDataByteOrderMSB", "False").lower() == "true":
        values.byteswap()
    return header, values


def compare_mha(expected: Path, actual: Path, tol: Tolerance, name: str, report: Report) -> None:
    (eh, ev), (ah, av) = read_mha(expected), read_mha(actual)
    for key in ("NDims", "DimSize", "ElementType"):
        if eh.get(key) != ah.get(key):
            report.differences.append(f"{name}: {key} {ah.get(key)!r}, expected {eh.get(key)!r}")
            return
    for key in ("ElementSpacing", "Offset"):
        e, a = ([float(v) for v in h.get(key, "0").split()] for h in (eh, ah))
        # zip(strict=) is Python 3.10+ (this runs on 3.9); the lengths are equal, checked first.
        if len(e) != len(a) or any(abs(x - y) > 1e-9 + 1e-6 * abs(x) for x, y in zip(e, a)):  # noqa: B905
            report.differences.append(f"{name}: {key} {a}, expected {e}")
    if eh.get("ElementType") == "MET_UCHAR":  # a mask: labels are equal or not, a share of them may differ
        compare_mask(ev, av, tol, name, report)
        return
    # Not strict (nor could it be on 3.9): with unequal lengths, the common part's worst is reported below.
    worst = max((abs(x - y) for x, y in zip(ev, av)), default=0.0)  # noqa: B905
    if len(ev) != len(av) or not worst <= tol.probability_atol:
        report.differences.append(f"{name}: voxels differ by up to {worst:.3g} (tolerance {tol.probability_atol:g})")
    report.notes.append(f"{name}: {eh.get('DimSize')} voxels, largest difference {worst:.3g}")


def compare_mask(expected: array.array, actual: array.array, tol: Tolerance, name: str, report: Report) -> None:
    """Label voxels: at most ``tol.mask_fraction`` of them may differ."""
    if len(expected) != len(actual):
        report.differences.append(f"{name}: {len(actual)} voxels, expected {len(expected)}")
        return
    # zip(strict=) is Python 3.10+ (this runs on 3.9); the lengths are equal, checked above.
    differ = sum(1 for x, y in zip(expected, actual) if x != y)  # noqa: B905
    share = differ / len(expected) if expected else 0.0
    if share > tol.mask_fraction:
        report.differences.append(
            f"{name}: {differ} of {len(expected)} mask voxels differ ({100 * share:.3g} %, "
            f"tolerance {100 * tol.mask_fraction:g} %)"
        )
    report.notes.append(
        f"{name}: {len(expected)} mask voxels, {differ} differ ({100 * share:.3g} %), "
        f"{sum(1 for v in expected if v)} foreground expected, {sum(1 for v in actual if v)} actual"
    )


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def compare_paths(expected: Path, actual: Path, tol: Tolerance = Tolerance()) -> Report:
    """Compare two JSON files, or two folders file by file. Raises ReadError for unreadable input."""
    report = Report()
    if expected.is_dir() or actual.is_dir():
        for folder in (expected, actual):
            if not folder.is_dir():
                raise ReadError(f"{folder}: not a folder (compare two folders or two files)")
        want, got = _files(expected), _files(actual)
        for name in sorted(want - got):
            report.differences.append(f"{name}: missing in {actual}")
        for name in sorted(got - want):
            report.differences.append(f"{name}: not expected (extra file in {actual})")
        for name in sorted(want & got):
            if name.endswith(".json"):
                sub = compare_paths(expected / name, actual / name, tol)
                report.differences.extend(f"{name}: {d}" for d in sub.differences)
                report.notes.extend(f"{name}: {n}" for n in sub.notes)
            elif name.endswith(".mha"):
                compare_mha(expected / name, actual / name, tol, name, report)
            elif (expected / name).read_bytes() != (actual / name).read_bytes():
                report.differences.append(f"{name}: contents differ")
        if not want:
            report.notes.append(f"{expected}: no expected files")
        return report
    want, got = _load(expected), _load(actual)
    if _is_number(want) and _is_number(got):  # a "Float" output
        if not abs(got - want) <= tol.probability_atol + tol.value_rtol * abs(want):
            report.differences.append(f"value: expected {want!r}, got {got!r} (difference {got - want:.3g})")
        return report
    compare_values(want, got, tol, "", report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="compare_outputs.py",
        description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 PASS, 1 FAIL, 2 unreadable input.",
    )
    parser.add_argument("expected", type=Path, help="expected JSON file or output folder")
    parser.add_argument("actual", type=Path, help="actual JSON file or output folder")
    parser.add_argument(
        "--distance-mm",
        type=float,
        help="largest distance between matched points, mm (default 0.0005 = 0.5 um; --gpu 0.002)",
    )
    parser.add_argument(
        "--probability-atol",
        type=float,
        help="largest probability difference of matched points (default 0.02; --gpu 0.05)",
    )
    parser.add_argument(
        "--rtol", type=float, default=Tolerance.rtol, help="relative tolerance of other numbers (default 1e-6)"
    )
    parser.add_argument(
        "--atol", type=float, default=Tolerance.atol, help="absolute tolerance of other numbers (default 1e-9)"
    )
    parser.add_argument(
        "--min-probability",
        type=float,
        help="forgive unmatched points below this probability (default 0: strict; --gpu 0.1)",
    )
    parser.add_argument(
        "--value-rtol",
        type=float,
        default=Tolerance.value_rtol,
        help="relative tolerance of single-number outputs, on top of --probability-atol (default 0.02)",
    )
    parser.add_argument(
        "--line-mm",
        type=float,
        default=Tolerance.line_mm,
        help="largest distance of distance-measurement endpoints, mm (default 0.01)",
    )
    parser.add_argument(
        "--mask-fraction",
        type=float,
        default=Tolerance.mask_fraction,
        help="largest share of mask (uint8 MHA) voxels that may differ (default 0.001 = 0.1 %%)",
    )
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="a GPU run against CPU-made outputs: --distance-mm 0.002 --probability-atol 0.05 --min-probability 0.1 "
        "unless given",
    )
    args = parser.parse_args(argv)
    preset = GPU if args.gpu else Tolerance()
    for name in ("distance_mm", "probability_atol", "min_probability"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(preset, name))
    names = ("distance_mm", "probability_atol", "rtol", "atol", "min_probability", "value_rtol", "line_mm")
    for name in (*names, "mask_fraction"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0):
            parser.error(f"--{name.replace('_', '-')} must be a non-negative number, got {value}")
    tol = Tolerance(
        args.distance_mm,
        args.probability_atol,
        args.rtol,
        args.atol,
        args.min_probability,
        args.value_rtol,
        args.line_mm,
        args.mask_fraction,
    )
    try:
        report = compare_paths(args.expected, args.actual, tol)
    except ReadError as exc:
        print(f"compare_outputs.py: error: {exc}", file=sys.stderr)
        return 2
    for line in report.notes:
        print(f"  {line}")
    for line in report.differences:
        print(f"  {line}")
    if report:
        print(f"PASS: {args.actual} matches {args.expected}")
        return 0
    print(f"FAIL: {args.actual} differs from {args.expected} ({len(report.differences)} difference line(s))")
    return 1


if __name__ == "__main__":
    sys.exit(main())
