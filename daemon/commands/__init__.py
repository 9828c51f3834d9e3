"""One module per `mttd` subcommand; see daemon/cli.py for the contract."""

from __future__ import annotations

import sys

from model.timeline.errors import TimelineParseError


def fail(message: str, code: int = 1) -> int:
    """Print one line to stderr, `mttd: message`, and return the exit code."""
    print(f"mttd: {message}", file=sys.stderr)
    return code


def parse_error(err: TimelineParseError) -> int:
    return fail(f"cannot read {err.one_line()}")
