"""User-facing errors: one line saying what was wrong and what to do.

The CLI catches `UserError` and prints its message without a traceback, exiting with
`exit_code` (2 by default).
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class UserError(Exception):
    """A mistake in the user's input or environment (bad path, unknown model, offline ...)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class WeightsError(UserError):
    """A checkpoint could not be found, downloaded, verified or loaded."""
