"""What several dashboard modules share: the threshold mode and error text."""

from __future__ import annotations

from typing import Literal

__all__ = ["Mode", "describe_errors"]


Mode = Literal["absolute", "percentile"]


def describe_errors(exc: BaseException) -> str:
    """The first line of an error's message (a row list, if any, is shown elsewhere)."""
    return str(exc).split("\n", 1)[0]
