"""Where long work stands: the stage and how far into it, for whoever asked to be told.

The daemon runs each call under `reporting(fn)` and shows the last report in `mttd status` and
`mttd watch list`; the suggestion pipeline calls `report(stage, done)` at each stage and as the
network's chunks and the rollouts go by. Without a reporter installed (the CLI, tests) `report`
does nothing. Like model.inference.cancel, one reporter per thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


def report(stage: str, done: float = 0.0) -> None:
    """Tell the installed reporter that `stage` is `done` (0..1) through."""
    fn = getattr(_local, "fn", None)
    if fn is not None:
        fn(stage, min(max(float(done), 0.0), 1.0))


@contextmanager
def reporting(fn: Callable[[str, float], None]) -> Iterator[None]:
    """Install `fn(stage, done)` as this thread's reporter for the duration of the block."""
    previous = getattr(_local, "fn", None)
    _local.fn = fn
    try:
        yield
    finally:
        _local.fn = previous
