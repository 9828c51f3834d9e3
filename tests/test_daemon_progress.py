"""Long work shows its progress: a real daemon suggesting on a 20-minute corpus programme reports
the file, the stage and how far into it through GetStatus (what `mttd status` and `mttd watch
list` print)."""

from __future__ import annotations

import shutil
import threading

from daemon.commands.lifecycle import _status_text
from daemon.commands.watch import working_on_text
from tests.helpers_daemon import CORPUS, client_for, make_home, running_daemon, wait_for

PROGRAMME = CORPUS / "havardgulldahl__xmeml" / "Kraakeklubben%20Pgm%205%20v3.xml"
STAGES = {"read", "features", "predict", "review", "next", "fill"}


def test_status_shows_the_file_stage_and_percent_while_suggesting(tmp_path):
    from protos.mtt.v1 import suggester_pb2 as pb

    path = tmp_path / "programme.xml"
    shutil.copy(PROGRAMME, path)
    home = make_home(tmp_path, backend="onnx-int8", keep_alive=-1)
    with running_daemon(home):
        client = client_for(home)
        assert wait_for(lambda: client.status().model.loaded, timeout=60)
        seen = []
        done = threading.Event()

        def call():
            try:
                client.suggest(pb.SuggestRequest(path=str(path)), timeout=300)
            finally:
                done.set()

        worker = threading.Thread(target=call)
        worker.start()
        while not done.is_set():
            queue = client.status().queue
            if queue.busy and queue.stage:
                seen.append((queue.job, queue.stage, queue.percent, queue.busy_s))
            done.wait(0.02)
        worker.join()
        idle = client.status().queue
    assert seen, "no progress was reported while the call ran"
    assert {job for job, *_ in seen} == {str(path)}
    assert {stage for _, stage, *_ in seen} <= STAGES and "predict" in {stage for _, stage, *_ in seen}
    assert all(0.0 <= percent <= 100.0 and elapsed >= 0.0 for *_, percent, elapsed in seen)
    assert (idle.busy, idle.job, idle.stage) == (False, "", "")


def test_the_progress_reads_as_a_line_an_editor_understands():
    line = working_on_text({"file": "/cuts/ep1.xml", "stage": "predict", "percent": 41.6, "elapsed_s": 3.25})
    assert line == "/cuts/ep1.xml: predict 42 %, 3.2 s"
    doc = {"running": True, "version": "x", "pid": 1, "uptime_s": 5, "endpoint": "unix:/s", "responsive": True, "serving": True,
           "model": {"name": "mtt", "version": "v", "sha256": "ab", "loaded": True, "idle_s": 0, "backend": "onnx-int8"},
           "queue": {"depth": 1, "capacity": 8, "busy": True, "busy_s": 2.5, "completed": 0, "rejected": 0, "failed": 0,
                     "job": "/cuts/ep1.xml", "stage": "fill", "percent": 50.0},
           "cache": {"entries": 0, "hits": 0, "misses": 0}, "rss_mb": 200, "log": "/l"}
    assert "busy for 2.5 s on /cuts/ep1.xml (fill 50 %)" in _status_text(doc)
