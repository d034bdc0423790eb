#!/usr/bin/env python3
"""Compare two metrics.json files with a numeric tolerance: the check behind ``test.sh``.

    python3 evaluation/compare_metrics.py EXPECTED ACTUAL [--rtol 1e-6] [--atol 1e-9] [--ignore PATH]...

Numbers (int or float, not bool) match when ``|actual - expected| <= atol +
rtol * |expected|``; strings, booleans and nulls must be equal; objects must
have the same keys and lists the same length. ``--ignore`` skips a dotted
path such as ``aggregates.evaluation_version`` (list items are numbered:
``results.0.case``). Prints PASS or FAIL with each difference's path; exit
status 0 on PASS, 1 on FAIL, 2 when a file cannot be read.

Standard library only, so it runs with any ``python3`` on the CI host,
outside the container.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare(
    expected: Any,
    actual: Any,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    ignore: frozenset[str] = frozenset(),
    path: str = "",
) -> list[str]:
    """Every difference between ``expected`` and ``actual``, as ``"path: message"`` lines."""
    if path in ignore:
        return []
    where = path or "(root)"
    if _is_number(expected) and _is_number(actual):
        if math.isnan(expected) and math.isnan(actual):
            return []
        if abs(actual - expected) <= atol + rtol * abs(expected):
            return []
        return [f"{where}: expected {expected!r}, got {actual!r} (difference {actual - expected:.3g})"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}" if path else str(key)
            if sub in ignore:
                continue
            if key not in actual:
                out.append(f"{sub}: missing in actual")
            elif key not in expected:
                out.append(f"{sub}: not expected (extra key in actual)")
            else:
                out.extend(compare(expected[key], actual[key], rtol, atol, ignore, sub))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: expected a list of {len(expected)} items, got {len(actual)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(compare(e, a, rtol, atol, ignore, f"{path}.{i}" if path else str(i)))
        return out
    if type(expected) is type(actual) and expected == actual:
        return []
    return [f"{where}: expected {json.dumps(expected)[:80]}, got {json.dumps(actual)[:80]}"]


def main(argv: list[str] | None = None) -> int:
    """Compare two metrics.json files; 0 when they agree within the tolerances, 1 listing the differences."""
    parser = argparse.ArgumentParser(description="Compare two metrics.json files with a numeric tolerance.")
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance (default: %(default)s)")
    parser.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance (default: %(default)s)")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="dotted path to skip, e.g. aggregates.evaluation_version (repeatable)",
    )
    args = parser.parse_args(argv)
    docs = []
    for label, name in (("expected", args.expected), ("actual", args.actual)):
        try:
            with open(name, encoding="utf-8") as handle:
                docs.append(json.load(handle))
        except (OSError, ValueError) as exc:
            print(f"FAIL: cannot read the {label} metrics {name}: {exc}")
            return 2
    differences = compare(docs[0], docs[1], args.rtol, args.atol, frozenset(args.ignore))
    if differences:
        print(f"FAIL: {args.actual} differs from {args.expected} in {len(differences)} place(s):")
        for line in differences[:50]:
            print(f"  {line}")
        if len(differences) > 50:
            print(f"  ... and {len(differences) - 50} more")
        return 1
    print(f"PASS: {args.actual} matches {args.expected} (rtol {args.rtol:g}, atol {args.atol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
