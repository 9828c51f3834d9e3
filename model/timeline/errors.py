"""The one error a bad timeline raises, whatever is wrong with it."""

from __future__ import annotations


class TimelineParseError(Exception):
    """A timeline file that cannot be read: names the file, the line (0 when unknown) and why."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = int(line or 0)
        self.reason = reason
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"
