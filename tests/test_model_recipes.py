"""The bundled models were made by their recipes: each ``models/train_*.sh``'s options equal the ones its
bundled checkpoint recorded (``command`` in the checkpoint), so a recipe edited by hand cannot drift from
the model the model card describes."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch

from training.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"

# (recipe, the training command that makes the checkpoint, the bundled checkpoint): the recipe's last call
# of that command made it
RECIPES = [
    ("train_detector.sh", "detector-soup", "detector.pt"),  # a soup of fine-tunes: their options checked below
    ("train_slide_models.sh", "segmenter", "segmenter.pt"),
    ("train_nuclei.sh", "nuclei", "nuclei.pt"),
    ("train_label_models.sh", "patch-classifier", "patch_classifier.pt"),
]


def recipe_options(recipe: Path, command: str) -> dict[str, list[str]]:
    """The options of the recipe's last ``-m training COMMAND`` call, each with its words (continuation lines
    joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", recipe.read_text())
    calls = [line for line in text.splitlines() if re.search(rf"-m training {re.escape(command)}(\s|$)", line)]
    assert calls, f"{recipe.name} has no 'training {command}' call"
    words = shlex.split(calls[-1], comments=True)
    return recipe_options_of(words[words.index(command) + 1 :])


def same(recorded: Any, words: list[str]) -> bool:
    """Whether the recipe's words give the recorded value (numbers compared as numbers)."""
    if isinstance(recorded, bool):
        return recorded is True and not words  # a flag
    values = recorded if isinstance(recorded, list) else [recorded]
    if len(values) != len(words):
        return False
    for value, word in zip(values, words, strict=True):
        if isinstance(value, int | float):
            try:
                if float(word) != float(value):
                    return False
            except ValueError:
                return False
        elif str(value) != word:
            return False
    return True


def tune_calls(recipe: Path) -> list[tuple[str, list[str]]]:
    """``train_detector.sh``'s fine-tunes: each ``tune INIT OUT SEED [OPTION...]`` call's seed and options."""
    calls = [shlex.split(line, comments=True) for line in recipe.read_text().splitlines() if line.startswith("tune ")]
    return [(words[3], words[4:]) for words in calls]


@pytest.mark.parametrize(("recipe", "command", "checkpoint"), RECIPES)
def test_a_bundled_model_records_its_recipes_options(recipe: str, command: str, checkpoint: str) -> None:
    recorded = json.loads(torch.load(MODELS / checkpoint, map_location="cpu", weights_only=False)["command"])
    check_recorded(recipe, command, checkpoint, recorded, recipe_options(MODELS / recipe, command))


def test_the_bundled_detectors_ingredients_are_the_recipes_last_fine_tunes() -> None:
    """The soup's ingredients, in order, were made by the recipe's last ``tune`` calls: the options of
    ``tune``'s training command, then the call's own (argparse keeps the last), and the call's seed."""
    soup = torch.load(MODELS / "detector.pt", map_location="cpu", weights_only=False)["soup"]
    body = recipe_options(MODELS / "train_detector.sh", "detector")  # the last call: tune's
    calls = tune_calls(MODELS / "train_detector.sh")[-len(soup) :]
    assert len(soup) >= 2 and len(calls) == len(soup)
    for ingredient, (seed, extra) in zip(soup, calls, strict=True):
        recorded = json.loads(ingredient["command"])
        options = {**body, **recipe_options_of(extra), "seed": [seed]}
        check_recorded("train_detector.sh", "detector", ingredient["file"], recorded, options)


def recipe_options_of(words: list[str]) -> dict[str, list[str]]:
    """Options from a list of words, as :func:`recipe_options` reads a call's (a shell function's ``"$@"``,
    its caller's options, left out)."""
    options: dict[str, list[str]] = {}
    name = None
    for word in words:
        if word == "$@":
            continue
        if word.startswith("--"):
            name = word[2:].replace("-", "_")
            options[name] = []
        elif name is not None:
            options[name].append(word)
    return options


def check_recorded(
    recipe: str, command: str, checkpoint: str, recorded: dict[str, Any], options: dict[str, list[str]]
) -> None:
    """The recipe's ``options`` for ``command`` are those the checkpoint ``recorded``, and what the recipe
    leaves out was the default."""
    assert recorded["command"] == command
    assert options, f"{recipe}: no options found"
    # a value the shell fills in (a path under $run, an array of files) is the machine's, not the recipe's
    literal = {name: words for name, words in options.items() if not any("$" in word for word in words)}
    differ = {
        name: (words, recorded.get(name))
        for name, words in literal.items()
        if name not in recorded or not same(recorded[name], words)
    }
    assert not differ, f"models/{recipe} and models/{checkpoint} disagree (recipe words, recorded): {differ}"
    # and what the recipe leaves out, the model was trained with at its default
    defaults = _defaults(command)
    unsaid = {
        name: (defaults[name], value)
        for name, value in recorded.items()
        if name not in options and name in defaults and value != defaults[name]
    }
    assert not unsaid, (
        f"models/{checkpoint} was trained with options models/{recipe} omits (default, recorded): {unsaid}"
    )


def _defaults(command: str) -> dict[str, Any]:
    """Each option's default in ``python -m training COMMAND``'s parser."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return {a.dest: a.default for a in sub.choices[command]._actions if a.dest != "help"}  # noqa: SLF001


def test_the_recipe_reader_joins_lines_and_keeps_words(tmp_path: Path) -> None:
    recipe = tmp_path / "train.sh"
    recipe.write_text(
        '"$py" -m training detector --epochs 2 --out "$run-base"\n'
        '"$py" -m training detector-score --model x\n'
        '"$py" -m training detector --train a b \\\n    --lr 1e-4 --smoke  # the second call\n'
    )
    assert recipe_options(recipe, "detector") == {"train": ["a", "b"], "lr": ["1e-4"], "smoke": []}
    recipe.write_text(
        'tune() {\n    "$py" -m training detector --seed "$seed" --amp "$@"\n}\n'
        'tune "$run-base/best.pt" "$run-step2" 0 --epochs 5\ntune "$run-step2/best.pt" "$run-step3" 1\n'
    )
    assert recipe_options(recipe, "detector") == {"seed": ["$seed"], "amp": []}
    assert tune_calls(recipe) == [("0", ["--epochs", "5"]), ("1", [])]
    assert same(0.0001, ["1e-4"]) and same(["a", "b"], ["a", "b"]) and same(True, [])
    assert not same(0.001, ["1e-4"]) and not same(["a"], ["a", "b"]) and not same(False, [])
