"""Progress on stderr, by elapsed time: any step still running after ~2 s shows a sign of life.

A step that ends within ``SHOW_AFTER`` seconds prints nothing, whatever its item count. One
that runs longer shows a rich bar (with elapsed time, so it ticks even while one long item is
being processed) when stderr is a terminal, and otherwise a plain line every ``PLAIN_EVERY``
seconds plus one when it ends (logs and CI keep a readable record). A step of unknown length
(``total=None``) is a heartbeat: elapsed time only.

A background thread does the timing, so a single long call between two ``advance`` calls
(embedding one chunk with a slow model, say) still gets its heartbeat.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any

SHOW_AFTER = 2.0  # seconds of silence allowed before a step shows its progress
PLAIN_EVERY = 15.0  # seconds between plain lines when stderr is not a terminal

_lock = threading.RLock()
_shown: list[Progress] = []  # steps whose rich display is live, outermost first


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


class Progress:
    """``with Progress("near: minhash", total, enabled) as bar: bar.advance(n)``."""

    def __init__(self, description: str, total: int | None = None, enabled: bool = True) -> None:
        self.description = description
        self.total = total if total else None
        self.enabled = enabled and total != 0
        self.done = 0
        self._rich: Any = None  # the rich Progress showing this step (its own or a host's)
        self._own = False
        self._task: Any = None
        self._plain = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            self._t0 = time.monotonic()
            self._thread = threading.Thread(target=self._watch, name="curate-progress", daemon=True)
            self._thread.start()
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self._rich is not None:
            with _lock:
                if self._rich is not None:
                    self._rich.update(self._task, completed=self.done)

    def _watch(self) -> None:
        if self._stop.wait(SHOW_AFTER):
            return
        if _tty():
            with _lock:
                if not self._stop.is_set():
                    self._show_rich()
            return
        self._plain = True
        self._line("")
        while not self._stop.wait(PLAIN_EVERY):
            self._line("")

    def _show_rich(self) -> None:
        # Attributes are set before ``_rich`` becomes visible: ``advance`` reads ``_rich`` and
        # then ``_task`` without the lock.
        if _shown:  # nested inside a step already on screen: one more row in its display
            rich = _shown[-1]._rich
            self._task = rich.add_task(self.description, total=self.total, completed=self.done)
            self._rich = rich
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        rich = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        rich.start()
        self._task = rich.add_task(self.description, total=self.total, completed=self.done)
        self._own = True
        self._rich = rich
        _shown.append(self)

    def _line(self, end: str) -> None:
        elapsed = time.monotonic() - self._t0
        if self.total:
            pct = 100 * self.done / self.total
            where = f"{self.done:,}/{self.total:,} ({pct:.0f}%)"
        else:
            where = f"{self.done:,} done" if self.done else "running"
        sys.stderr.write(f"curate: {self.description}: {where}, {elapsed:.0f} s{end}\n")
        sys.stderr.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        with _lock:
            if self._rich is not None:
                if self._own:
                    self._rich.stop()
                    _shown.remove(self)
                else:
                    self._rich.remove_task(self._task)
                self._rich = None
                return
        if exc_type is None and (
            self._plain or (not _tty() and time.monotonic() - self._t0 >= SHOW_AFTER)
        ):
            self._line(", finished")
