"""Stop work whose caller has gone: a check the long loops call between stages and chunks.

The daemon runs each call on its engine thread under `checking(fn)`; `fn` raises (its own
exception, which model/ never needs to know) once the call's deadline has passed or its client
has gone. Without a check installed (the CLI, training, tests) `check()` does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


def check() -> None:
    """Raise the installed check's exception when the work is no longer wanted."""
    fn = getattr(_local, "fn", None)
    if fn is not None:
        fn()


@contextmanager
def checking(fn: Callable[[], None]) -> Iterator[None]:
    """Install `fn` as this thread's check for the duration of the block."""
    previous = getattr(_local, "fn", None)
    _local.fn = fn
    try:
        yield
    finally:
        _local.fn = previous
