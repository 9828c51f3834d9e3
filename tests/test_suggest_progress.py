"""`mttd suggest FILE` on a terminal shows where the work stands (model.inference.progress) on one
stderr line, and clears it when done; off a terminal it prints nothing of the kind."""

from __future__ import annotations

import io

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "vlog.xml"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_suggest(monkeypatch, stderr) -> int:
    from daemon.cli import main
    from daemon.commands.suggest import ProgressLine

    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(ProgressLine, "DELAY_S", 0.01)  # the example is done in about a second
    return main(["suggest", "--no-daemon", str(EXAMPLE)])


def test_mttd_suggest_on_a_terminal_shows_stage_and_percent_then_clears_the_line(monkeypatch, capsys, mttd_home):
    terminal = Terminal()
    assert run_suggest(monkeypatch, terminal) == 0
    shown = terminal.getvalue()
    assert shown.startswith(f"\r\033[Kmttd: {EXAMPLE}: ") and shown.endswith("\r\033[K")
    redraws = [part for part in shown.split("\r\033[K") if part]
    stages = {part.split(": ")[-1].split()[0] for part in redraws}
    assert stages <= {"read", "loading", "features", "predict", "review", "next", "fill"} and stages - {"read", "loading"}, redraws
    assert all(part.split()[-3].endswith("%") and part.endswith(" s)") for part in redraws)
    assert "sequence 'vlog 2024-05-26 FINAL'" in capsys.readouterr().out


def test_off_a_terminal_there_is_no_progress_line(monkeypatch, capsys, mttd_home):
    pipe = io.StringIO()
    assert run_suggest(monkeypatch, pipe) == 0
    assert pipe.getvalue() == ""
    assert "review (2):" in capsys.readouterr().out
