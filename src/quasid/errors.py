"""Errors quasid raises at its boundaries.

Every error a user can cause (bad file, bad parameter, bad embedding) is a
``QuasidError`` subclass whose message names the file / field / item and says
what to do. The CLI prints these as one line and exits non-zero; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class QuasidError(Exception):
    """Base class of user-facing errors (bad input, bad configuration)."""


class DataError(QuasidError, ValueError):
    """A data file or in-memory dataset is malformed or inconsistent."""


class ConfigError(QuasidError, ValueError):
    """A parameter or configuration value is out of range or inconsistent."""


class NotFittedError(QuasidError, RuntimeError):
    """A tokenizer was used before ``fit`` (or ``load``)."""
