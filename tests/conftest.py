"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets (``$QUASID_DATA``, else ``shared/data`` beside the repo); skips when absent."""
    root = Path(os.environ.get("QUASID_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root} (set QUASID_DATA)")
    return root


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tests use tiny models: one thread is as fast and never stalls on a busy 2-core machine."""
    import torch

    torch.set_num_threads(1)
