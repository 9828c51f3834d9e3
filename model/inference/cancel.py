"""Stop work whose caller has gone: a check the long loops call between stages and chunks.

The daemon runs each call on its engine thread under `checking(fn)`; `fn` raises (its own
exception, which model/ never needs to know) once the call's deadline has passed or its client
has gone. Without a check installed (the CLI, training, tests) `check()` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from model.inference.thread_hook import ThreadHook

_hook = ThreadHook()


def check() -> None:
    """Raise the installed check's exception when the work is no longer wanted."""
    fn = _hook.get()
    if fn is not None:
        fn()


def checking(fn: Callable[[], None]) -> AbstractContextManager[None]:
    """Install `fn` as this thread's check for the duration of the block."""
    return _hook.installed(fn)
