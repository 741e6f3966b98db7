"""Semantic ID tokenizers, selectable by method name."""

from __future__ import annotations

from quasid.errors import ConfigError
from quasid.tokenizers.base import SIDTokenizer, TokenizerConfig
from quasid.tokenizers.quasid import (
    RQVAECL,
    RQVAEHMR,
    QuaSID,
    QuaSIDConfig,
    QuaSIDPeer,
    QuaSIDSeverity,
    QuaSIDSeverityConfig,
    RQVAEHMRMask,
    RQVAEResolve,
)
from quasid.tokenizers.rqkmeans import RQKMeans, RQKMeansConfig
from quasid.tokenizers.rqvae import RQVAE, RQVAEConfig

TOKENIZERS: dict[str, type[SIDTokenizer]] = {
    RQKMeans.method: RQKMeans,
    RQVAE.method: RQVAE,
    QuaSID.method: QuaSID,
    QuaSIDPeer.method: QuaSIDPeer,
    QuaSIDSeverity.method: QuaSIDSeverity,
    RQVAEHMR.method: RQVAEHMR,
    RQVAEHMRMask.method: RQVAEHMRMask,
    RQVAECL.method: RQVAECL,
    RQVAEResolve.method: RQVAEResolve,
}


def get_tokenizer_class(method: str) -> type[SIDTokenizer]:
    """The tokenizer class registered under ``method``; ConfigError lists the valid names."""
    try:
        return TOKENIZERS[method]
    except KeyError:
        raise ConfigError(f"unknown method {method!r}; choose one of {sorted(TOKENIZERS)}") from None


__all__ = [
    "RQVAE",
    "RQVAECL",
    "RQVAEHMR",
    "TOKENIZERS",
    "QuaSID",
    "QuaSIDConfig",
    "QuaSIDPeer",
    "QuaSIDSeverity",
    "QuaSIDSeverityConfig",
    "RQKMeans",
    "RQKMeansConfig",
    "RQVAEConfig",
    "RQVAEHMRMask",
    "RQVAEResolve",
    "SIDTokenizer",
    "TokenizerConfig",
    "get_tokenizer_class",
]
