"""Progress display for long steps (rich), silent when disabled or not a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Progress | None]:
    """A rich progress bar with one task; yields None when disabled so callers can skip updates."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with bar:
        bar.add_task(description, total=total, info="")
        yield bar


def advance(bar: Progress | None, info: str = "", step: int = 1) -> None:
    """Advance the single task of ``bar`` (no-op when disabled)."""
    if bar is not None:
        task_id = bar.task_ids[0]
        bar.update(task_id, advance=step, info=info)
