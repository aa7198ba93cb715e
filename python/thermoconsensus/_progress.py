"""A dependency-free text progress bar for long native calls (``progress=True``)."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO, Union

ProgressArg = Union[bool, Callable[[int, int], object], None]


class ProgressBar:
    """Called as ``bar(done, total)`` from the native layer; redraws one line on stderr, at most 10x/s."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._start = time.monotonic()
        self._last_draw = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        frac = done / total if total else 1.0
        filled = round(frac * self.width)
        elapsed = now - self._start
        eta = elapsed / frac - elapsed if 0 < frac < 1 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {elapsed:.1f}s (eta {eta:.1f}s){end}")
        self.stream.flush()


def resolve_progress(progress: ProgressArg, label: str) -> Callable[[int, int], object] | None:
    """None/False: no reporting; True: a :class:`ProgressBar`; a callable: called with (done, total)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return ProgressBar(label)
    if callable(progress):
        return progress
    raise TypeError(f"progress: expected a bool or a callable(done, total), got {type(progress).__name__}")
