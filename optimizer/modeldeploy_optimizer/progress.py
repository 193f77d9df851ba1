"""Progress for people and for machines.

On a terminal: a progress bar over the stages (rich). Elsewhere (the Job's pod, CI):
one JSON object per line on stderr, which log collectors parse.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

STAGES = (
    "fetch",
    "load",
    "export",
    "prepare",
    "candidates",
    "benchmark",
    "write",
)


class Progress:
    """Reports stages and messages; a bar on a TTY, JSON lines otherwise."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.interactive = self._stream.isatty() if interactive is None else interactive
        self._bar: Any = None
        self._task: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} stages"),
                TimeElapsedColumn(),
                console=Console(file=self._stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("starting", total=len(STAGES))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    @contextmanager
    def stage(self, name: str, message: str = "") -> Iterator[None]:
        """A stage of the optimization: logged at start and end, advances the bar."""
        started = time.monotonic()
        self.log(message or name, stage=name, event="start")
        if self._bar is not None:
            self._bar.update(self._task, description=f"{name}: {message}" if message else name)
        yield
        self.log(
            f"{name} done", stage=name, event="end", seconds=round(time.monotonic() - started, 2)
        )
        if self._bar is not None and name in STAGES:
            self._bar.update(self._task, completed=STAGES.index(name) + 1)

    def log(self, message: str, *, level: str = "info", **fields: Any) -> None:
        """One event: a printed line on a terminal, a JSON line elsewhere."""
        if self.interactive:
            style = {"error": "red", "warning": "yellow"}.get(level, "dim")
            if self._bar is not None:
                self._bar.console.print(f"[{style}]{message}[/{style}]", highlight=False)
            else:
                print(message, file=self._stream)
            return
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": level,
            "message": message,
            "elapsed": round(time.monotonic() - self._started, 2),
            **fields,
        }
        print(json.dumps(record, default=str), file=self._stream, flush=True)
