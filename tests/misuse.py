"""The misuse suite's shared record: one deliberately wrong call and its answer.

Each ``tests/test_misuse_*.py`` file lists ``CASES``: calls a reader could make
by mistake. Every one must raise the stated exception type *at the boundary*
(not deep inside torch or numpy) with a message that names the argument, so a
reader can fix the call without reading the package's source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Bad:
    """``call()`` must raise ``error`` with ``names`` (the argument) in its message."""

    id: str
    call: Callable[[], object]
    error: type[Exception]
    names: str  # a substring the message must contain, usually the argument name

    def check(self) -> None:
        with pytest.raises(self.error) as info:
            self.call()
        message = str(info.value)
        assert re.search(re.escape(self.names), message), (
            f"{self.id}: the message does not name {self.names!r}: {message!r}"
        )
        assert type(info.value) is not AssertionError


def params(cases: list[Bad]):
    """pytest parameters, one per case, named by its id."""
    return [pytest.param(case, id=case.id) for case in cases]
