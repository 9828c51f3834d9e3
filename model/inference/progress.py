"""Where long work stands: the stage and how far into it, for whoever asked to be told.

The daemon runs each call under `reporting(fn)` and shows the last report in `mttd status` and
`mttd watch list`; the suggestion pipeline calls `report(stage, done)` at each stage and as the
network's chunks and the rollouts go by. Without a reporter installed (the CLI, tests) `report`
does nothing. Like model.inference.cancel, one reporter per thread.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from model.inference.thread_hook import ThreadHook

_hook = ThreadHook()


def report(stage: str, done: float = 0.0) -> None:
    """Tell the installed reporter that `stage` is `done` (0..1) through."""
    fn = _hook.get()
    if fn is not None:
        fn(stage, min(max(float(done), 0.0), 1.0))


def reporting(fn: Callable[[str, float], None]) -> AbstractContextManager[None]:
    """Install `fn(stage, done)` as this thread's reporter for the duration of the block."""
    return _hook.installed(fn)
