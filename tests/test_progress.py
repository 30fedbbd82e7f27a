"""Progress lines: ETA from the pace so far, throttled lines off a terminal, a final line always."""

from __future__ import annotations

import io

from scoreline.progress import Progress, format_seconds, track


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_per_interval_and_the_end():
    out, clock = io.StringIO(), Clock()
    with Progress(100, "E0 backtest", "windows", stream=out, interval=10, clock=clock) as progress:
        for i in range(100):
            clock.now += 1.0  # one window a second: 100 s in all
            progress.advance(detail=f"window {i}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # every 10 s (a tenth each); the last already says 100 %, no repeat
    assert lines[0] == "E0 backtest: 10/100 windows (10%) | window 9 | 10s elapsed, ETA 1m30s"
    assert lines[-1] == "E0 backtest: 100/100 windows (100%) | window 99 | 1m40s elapsed"


def test_a_16_minute_backtest_keeps_a_ci_log_short(monkeypatch):
    """The issue's case: a 16-minute step updating every 2 s wrote ~95 lines at one per 10 s; now a
    line needs 30 s and a new tenth of the work: about a dozen."""
    monkeypatch.delenv("SCORELINE_PROGRESS_SECONDS", raising=False)
    out, clock = io.StringIO(), Clock()
    with Progress(480, "E0 backtest", "windows", stream=out, clock=clock) as progress:
        for _ in range(480):
            clock.now += 2.0
            progress.advance()
    lines = out.getvalue().splitlines()
    assert 5 <= len(lines) <= 12, lines
    shares = [line.split("(")[1].split(")")[0] for line in lines]
    assert shares == ["3%", *(f"{tenth}0%" for tenth in range(1, 10)), "100%"]  # a line per tenth


def test_slow_work_still_says_it_is_alive(monkeypatch):
    """Off a terminal, a unit of work taking 20 minutes still gets a line every ten intervals."""
    monkeypatch.delenv("SCORELINE_PROGRESS_SECONDS", raising=False)
    out, clock = io.StringIO(), Clock()
    with Progress(2, "E0 2023 replay", "days", stream=out, clock=clock) as progress:
        for minute in range(20):
            clock.now += 60.0
            progress.advance(0, detail=f"minute {minute}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 3 + 1  # the first after 30 s, then every 5 minutes, the final one


def test_zero_seconds_turns_progress_off(monkeypatch):
    monkeypatch.setenv("SCORELINE_PROGRESS_SECONDS", "0")
    out = io.StringIO()
    assert list(track(range(5), "quiet", stream=out)) == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""


def test_a_terminal_rewrites_one_line():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, clock = Tty(), Clock()
    with Progress(3, "replay", "days", stream=out, clock=clock) as progress:
        for _ in range(3):
            clock.now += 1.0
            progress.advance()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") == 4


def test_seconds_read_as_a_person_writes_them():
    assert [format_seconds(s) for s in (4.4, 65, 3725)] == ["4s", "1m05s", "1h02m"]
