"""matplotlib for the reports (bench, audit): the Agg backend, a clear error without it, atomic PNG writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quasid.errors import ConfigError
from quasid.io import atomic_path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed); ConfigError when not installed."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("report plots need matplotlib: pip install 'quasid[rec]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def integer_ticks(axis: Any) -> None:
    """Whole-number ticks (levels, depths, epochs)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
