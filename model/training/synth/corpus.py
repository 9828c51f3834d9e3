"""Write a synthetic corpus: N xmeml files named `{style}-{index:05d}.xml`, in parallel.

Each file depends only on (seed, index, style), so worker count and scheduling never change bytes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from model.timeline.xmeml_writer import write_xmeml
from model.training.synth import DEFAULT_MINUTES, STYLES, file_name, style_for_index, synthesize

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class Job:
    out: str
    seed: int
    styles: tuple[str, ...]
    minutes: tuple[float, float]


def write_one(job: Job, index: int) -> int:
    """Synthesize and write timeline `index`; return its size in bytes."""
    style = style_for_index(index, job.styles)
    data = write_xmeml(synthesize(style, job.seed, index, job.minutes))
    (Path(job.out) / file_name(style, index)).write_bytes(data)
    return len(data)


def _write_star(args: tuple[Job, int]) -> int:
    return write_one(*args)


def write_corpus(
    out: str | Path, count: int, seed: int, *, styles: tuple[str, ...] = STYLES,
    minutes: tuple[float, float] = DEFAULT_MINUTES, jobs: int = 2, progress: Progress | None = None,
) -> int:
    """Write `count` timelines into `out`; return the total number of bytes written."""
    Path(out).mkdir(parents=True, exist_ok=True)
    job = Job(str(out), int(seed), tuple(styles), (float(minutes[0]), float(minutes[1])))
    tasks = [(job, i) for i in range(count)]
    if jobs <= 1 or count < 8:
        return _drain(map(_write_star, tasks), count, progress)
    with multiprocessing.get_context().Pool(jobs) as pool:
        return _drain(pool.imap_unordered(_write_star, tasks, chunksize=8), count, progress)


def _drain(results, count: int, progress: Progress | None) -> int:
    total = 0
    for done, size in enumerate(results, 1):
        total += size
        if progress is not None:
            progress(done, count)
    return total
