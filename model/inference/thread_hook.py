"""One function per thread, installed for the length of a block: the shape model.inference.cancel
and model.inference.progress share (the daemon installs them around each call on its engine thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class ThreadHook:
    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> Callable[..., Any] | None:
        """This thread's installed function (None outside any `installed` block)."""
        return getattr(self._local, "fn", None)

    @contextmanager
    def installed(self, fn: Callable[..., Any]) -> Iterator[None]:
        """Install `fn` as this thread's function for the block (the previous one comes back after)."""
        previous = self.get()
        self._local.fn = fn
        try:
            yield
        finally:
            self._local.fn = previous
