"""The misuse suite as a whole: large enough, and covering every subpackage."""

import importlib
from pathlib import Path

SUITES = [
    importlib.import_module(p.stem)
    for p in sorted(Path(__file__).parent.glob("test_misuse_*.py"))
    if p.stem != "test_misuse_suite"
]
SUBPACKAGES = (
    "scratch",
    "data",
    "multitask",
    "transfer",
    "meta",
    "distributed",
    "nb",
    "plot",
)


def test_the_suite_holds_at_least_200_distinct_bad_calls():
    ids = [f"{suite.__name__}::{case.id}" for suite in SUITES for case in suite.CASES]
    assert len(ids) >= 200
    assert len(set(ids)) == len(ids), "two cases in one file share an id"


def test_every_subpackage_is_called_wrongly_somewhere():
    imported = {
        getattr(value, "__module__", None) or getattr(value, "__name__", "")
        for suite in SUITES
        for value in vars(suite).values()
    }
    for sub in SUBPACKAGES:
        assert any(str(name).startswith(f"mtlbook.{sub}") for name in imported), sub
