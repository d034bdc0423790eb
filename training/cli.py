"""``python -m training <command>``: one argparse sub-command per module.

Each command module defines ``NAME``, ``HELP``, ``DESCRIPTION``,
``add_arguments(parser)`` and ``run(args) -> int``; add new ones (detector,
segmenter, classifier) to ``COMMANDS``. A module may define
``check_arguments(args)``: what its options allow together, checked after
parsing and before ``run``; a :class:`ConfigError` it raises is a usage error
(argparse's: the command's usage, exit code 2), as a value refused by its type
is. Any other :class:`KitError` becomes one ``error: ...`` line on stderr and
exit code 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from types import ModuleType

from algorithm.console import configure_logging, run_main
from algorithm.errors import ConfigError

COMMANDS: tuple[str, ...] = (
    "training.synth.command",
    "training.detector.command",
    "training.detector.score_command",
    "training.detector.soup_command",
    "training.segmenter.command",
    "training.segmenter.heatmaps_command",
    "training.classifier.command",
    "training.patch_classifier.command",
    "training.classifier.label_command",
    "training.nuclei.command",
)

EPILOG = """\
Run `python -m training COMMAND --help` for a command's options, their defaults, what it
writes and examples. --debug and --quiet go before COMMAND.

examples:
  python -m training synth --out data/synth/train --count 8 --seed 100
  python -m training detector --train data/synth/train --valid data/synth/valid --out runs/detector
  python -m training detector --smoke --train data/synth/train --out /tmp/smoke
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m training``: one sub-command per module in ``COMMANDS``."""
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, tuple[argparse.ArgumentParser, ModuleType]]]:
    """The parser, and each command's sub-parser and module by name."""
    commands: dict[str, tuple[argparse.ArgumentParser, ModuleType]] = {}
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Training tools of the challenge kit: synthetic slides and reference models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors (no per-epoch lines)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(run=module.run)
        commands[module.NAME] = (p, module)
    return parser, commands


def _main(argv: Sequence[str] | None = None) -> int:
    parser, commands = _build()
    args = parser.parse_args(argv)
    sub, module = commands[args.command]
    check = getattr(module, "check_arguments", None)
    if check is not None:
        try:
            check(args)
        except ConfigError as exc:
            sub.error(str(exc))  # exits 2 with the command's usage
    configure_logging(quiet=args.quiet, debug=args.debug)
    return int(args.run(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a KitError becomes one ``error: ...`` line and exit 1 (see algorithm.console)."""
    return run_main(_main, None if argv is None else list(argv))
