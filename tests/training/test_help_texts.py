"""``python -m training``'s help explains itself: every option says what it does and, when it has one, its default."""

from __future__ import annotations

import argparse
import re

import pytest

from training.cli import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Each command's sub-parser by name, and the top-level parser as ``""``."""
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


def _help(parser: argparse.ArgumentParser, option: str) -> tuple[object, str]:
    """The default and the help text of ``option``."""
    (action,) = (a for a in parser._actions if option in a.option_strings)
    return action.default, action.help or ""


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's options, but for -h/--help and options hidden on purpose (help=SUPPRESS)."""
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS
    ]


def _needs_stating(default: object) -> bool:
    """Whether a default is one the help must state: anything but None, False or an empty list (nothing given)."""
    return not (default is None or default is False or (isinstance(default, (list, tuple)) and not default))


def test_the_rule_of_defaults():
    nothing: tuple[object, ...] = (None, False, [], ())
    something: tuple[object, ...] = (0, 0.0, "", "cpu", True, [1], (4096, 4096))
    assert not any(_needs_stating(d) for d in nothing)
    assert all(_needs_stating(d) for d in something)


def test_every_option_says_what_it_does_and_its_default():
    # The rule: a help text, and the word "default" in it when the default is not None/False/empty. The help
    # texts write defaults by hand, as "(default X)", "(default: ...)" or "X (default)", never ArgumentDefaults-
    # HelpFormatter's doubled "(default: X)"; a default of None ("not given") is explained in words or not at all.
    missing = []
    for name, parser in _commands().items():
        for action in _options(parser):
            option = f"{name or 'python -m training'} {'/'.join(action.option_strings)}"
            text = action.help or ""
            if not text.strip():
                missing.append(f"{option}: no help text")
            elif _needs_stating(action.default) and "default" not in text:
                missing.append(f"{option}: its default {action.default!r} is not stated")
    assert not missing, "\n".join(missing)
    assert len(_commands()) > 5  # the walk saw the sub-commands


@pytest.mark.parametrize(
    "command, option, default, stated",
    [
        ("detector", "--arch", "resnet18", "(default resnet18)"),
        ("detector", "--fpn-channels", 64, "(default 64)"),
        ("detector", "--epochs", 10, "(default 10)"),
        ("detector", "--batch-size", 8, "(default 8)"),
        ("detector", "--optimizer", "adamw", "(default adamw)"),
        ("detector", "--seed", 0, "(default 0)"),
        ("detector", "--iterations", 100, "(default 100)"),
        ("detector", "--lr", 1e-3, "(default 1e-3)"),
        ("detector", "--stain-augment", 0.2, "(default 0.2)"),
        ("segmenter", "--epochs", 10, "(default 10)"),
        ("segmenter", "--batch-size", 8, "(default 8)"),
        ("segmenter", "--lr", 1e-3, "(default 1e-3)"),
        ("segmenter", "--seed", 0, "(default 0)"),
        ("segmenter", "--fpn-channels", 64, "(default 64)"),
        ("patch-classifier", "--epochs", 6, "(default 6)"),
        ("patch-classifier", "--iterations", 40, "(default 40)"),
        ("patch-classifier", "--batch-size", 16, "(default 16)"),
        ("patch-classifier", "--lr", 1e-3, "(default 1e-3)"),
        ("nuclei", "--stain", "macenko", "(default macenko)"),
        ("nuclei", "--batch-size", 8, "(default 8)"),
        ("nuclei", "--stain-augment", 0.2, "(default 0.2)"),
        ("classifier", "--scales", "4,16,64,256", "(default 4,16,64,256)"),
        ("classifier", "--thresholds", "0.2,0.5,0.9", "(default 0.2,0.5,0.9)"),
        ("classifier", "--seed", 0, "(default 0)"),
        ("label-classifier", "--ranks", 16, "(default 16)"),
        ("label-classifier", "--threshold", "cv", "(default cv)"),
    ],
)
def test_stated_defaults_are_the_real_ones(command, option, default, stated):
    actual, text = _help(_commands()[command], option)
    assert actual == default
    assert stated in text


def test_label_classifier_threshold_says_validation_slides_choose_it():
    _, text = _help(_commands()["label-classifier"], "--threshold")
    assert "--valid-slides" in text and "cross-validated" in text


def test_top_level_help_has_an_example_and_points_to_the_commands_help(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "python -m training COMMAND --help" in out
    assert "examples:\n  python -m training synth --out" in out


def test_examples_continue_their_lines():
    # A lone backslash at a line's end inside a (non-raw) string joins the lines: the example's next option then
    # sits after a run of spaces on the same line, as detector-score's --gallery once did.
    for name, parser in _commands().items():
        for line in (parser.description or "").splitlines() + (parser.epilog or "").splitlines():
            assert not re.search(r"\S {3,}--\w", line), f"{name}: a broken line continuation: {line!r}"
