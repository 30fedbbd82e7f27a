"""Progress of long work (walk-forward windows, replay days, pipeline steps): done of total,
what is being done now, and the time left, on stderr.

On a terminal one status line is rewritten in place (at most every ``interval`` seconds, 0.2 s
by default). Anywhere else (CI logs, papermill-executed notebooks, a pipe) a full line is written
only when the work has crossed into a new tenth of its total, at most every ``interval`` seconds
(``SCORELINE_PROGRESS_SECONDS``, 30 s by default), or after ten intervals without a line (slow
work still shows it is alive), and once at the end: a 16-minute backtest writes about a dozen
lines, not a hundred. ``SCORELINE_PROGRESS_SECONDS=0`` turns progress off.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["Progress", "is_progress_line", "track"]

T = TypeVar("T")

#: seconds between lines at least when stderr is not a terminal
LOG_INTERVAL_S = 30.0
#: off a terminal a line needs a new tenth of the work done, or this many intervals of silence
LOG_STEPS = 10
LOG_QUIET_INTERVALS = 10
#: seconds between redraws of the status line on a terminal
TERMINAL_INTERVAL_S = 0.2


#: a line :meth:`Progress.line` writes: ``label: done/total ... | 12s elapsed[, ETA 3m05s]``
_LINE = re.compile(r"^\S[^|\n]*: \d+/\d+\b.* \d+[smh]\d*[sm]? elapsed(, ETA \d+[smh]\d*[sm]?)?$")


def is_progress_line(text: str) -> bool:
    """True for a status line of :class:`Progress` (a pipeline relays these from its kernels)."""
    return bool(_LINE.match(text.strip()))


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """``total`` units of work named ``label`` (``"E0 backtest"``), counted in ``unit``."""

    def __init__(
        self,
        total: int,
        label: str,
        unit: str = "",
        *,
        stream: TextIO | None = None,
        interval: float | None = None,
        clock=time.monotonic,
    ) -> None:
        self.total, self.label, self.unit = max(int(total), 0), label, unit
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        configured = os.environ.get("SCORELINE_PROGRESS_SECONDS")
        if interval is None:
            interval = (
                float(configured)
                if configured
                else (TERMINAL_INTERVAL_S if self.terminal else LOG_INTERVAL_S)
            )
        self.enabled = interval > 0
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.detail = ""
        self.started = clock()
        self._shown_at = self.started
        self._shown_step: int | None = None  # the tenth of the work the last line showed
        self._shown: tuple[int, str] | None = None  # what the last line said was done
        self._width = 0

    def advance(self, n: int = 1, detail: str = "") -> None:
        """``n`` more units done; ``detail`` says what is being done now."""
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        if detail:
            self.detail = detail
        now = self.clock()
        if self.enabled and now - self._shown_at >= self.interval and self._news(now):
            self._show(now)

    def _step(self) -> int:
        return self.done * LOG_STEPS // self.total if self.total else 0

    def _news(self, now: float) -> bool:
        """Worth a line: always on a terminal (the line is rewritten); in a log, the first line,
        a new tenth of the work, or a long silence."""
        return (
            self.terminal
            or self._shown_step is None
            or not self.total
            or self._step() > self._shown_step
            or now - self._shown_at >= LOG_QUIET_INTERVALS * self.interval
        )

    def line(self, now: float | None = None) -> str:
        """The status line: ``label: done/total unit (pct) | detail | elapsed, ETA``."""
        now = self.clock() if now is None else now
        elapsed = now - self.started
        unit = f" {self.unit}" if self.unit else ""
        parts = [f"{self.label}: {self.done}/{self.total}{unit}"]
        if self.total:
            parts[0] += f" ({self.done / self.total:.0%})"
        if self.detail:
            parts.append(self.detail)
        timing = f"{format_seconds(elapsed)} elapsed"
        if 0 < self.done < self.total:
            timing += f", ETA {format_seconds(elapsed / self.done * (self.total - self.done))}"
        parts.append(timing)
        return " | ".join(parts)

    def _show(self, now: float) -> None:
        text = self.line(now)
        if self.terminal:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown_at, self._shown_step, self._shown = now, self._step(), (self.done, self.detail)

    def close(self) -> None:
        """The final line (when enabled; in a log, unless the last line already said it)."""
        if not self.enabled or (not self.terminal and self._shown == (self.done, self.detail)):
            return
        self._show(self.clock())
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], label: str, total: int | None = None, unit: str = "", **kwargs) -> Iterator[T]:
    """``items``, advancing a :class:`Progress` by one per item (``total`` defaults to ``len``)."""
    if total is None:
        total = len(items)  # type: ignore[arg-type]  # a sized iterable, or give total
    with Progress(total, label, unit, **kwargs) as progress:
        for item in items:
            yield item
            progress.advance()
