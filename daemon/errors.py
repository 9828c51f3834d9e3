"""The errors mttd reports to its user, and the one error that crosses the gRPC boundary.

Commands raise; `daemon.cli.main` prints `mttd: MESSAGE` on stderr and exits with the error's
code (1, or 2 for a command line that cannot be run), the way dmypy and build do. Standard
library only: the installer and `mttd start` import it before anything heavy.
"""

from __future__ import annotations


class MttdError(Exception):
    """A failure the user can act on; the message is one line naming the file and the reason."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(MttdError):
    """A command line that cannot be run as given (exit 2, like argparse's own refusals)."""

    exit_code = 2


class DaemonError(MttdError):
    """A daemon call that cannot be answered, the same on both sides of gRPC: the engine and the
    servicer raise it with a status name (INVALID_ARGUMENT, NOT_FOUND, ...), the server sends code,
    message, line and reason, and the client raises it again (also with NOT_RUNNING,
    START_FAILED or VERSION, which never travel)."""

    def __init__(self, code: str, message: str, line: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.reason = reason or message  # without the file and line, for clients that rebuild errors
