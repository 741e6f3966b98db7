"""Run configuration: one TOML file that reproduces a run (data, embedding, method, seed, tokenizer).

CLI options override the file; the resolved config is written into the run folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from quasid.errors import ConfigError
from quasid.io import atomic_open


@dataclass
class EmbeddingConfig:
    """How item content becomes vectors when the catalog carries none."""

    source: str = "auto"  # auto | text | attributes | given
    model: str = "all-MiniLM-L6-v2"  # sentence-transformers model (text source)
    attribute_dim: int = 64  # SVD dimension (attributes source)
    batch_size: int | None = None  # None: the embedder picks (16 on CPU, 128 on GPU)
    file: str | None = None  # precomputed .npy matrix, rows in catalog order (`quasid embed` output)

    def validate(self) -> None:
        if self.source not in {"auto", "text", "attributes", "given"}:
            raise ConfigError(
                f"embedding.source must be one of auto, text, attributes, given; got {self.source!r}"
            )
        if self.file and self.source not in {"auto", "given"}:
            raise ConfigError(
                f"embedding.source must be one of auto, given when embedding.file is set (got "
                f"{self.source!r}): drop one of the two settings"
            )
        if self.attribute_dim < 2:
            raise ConfigError(f"embedding.attribute_dim must be >= 2, got {self.attribute_dim}")


@dataclass
class RunConfig:
    """Everything a `quasid fit` run depends on."""

    method: str = "rqvae"
    data: str = ""
    seed: int = 0
    disambiguate: bool = True  # append a token so every item's SID is unique
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    tokenizer: dict[str, Any] = field(default_factory=dict)  # the method's config fields

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        known = {"method", "data", "seed", "disambiguate", "embedding", "tokenizer"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; valid top-level keys: {sorted(known)}")
        emb = dict(values.get("embedding", {}))
        try:
            embedding = EmbeddingConfig(**emb)
        except TypeError as exc:
            raise ConfigError(f"[embedding] section: {exc}") from None
        cfg = cls(
            method=str(values.get("method", "rqvae")),
            data=str(values.get("data", "")),
            seed=int(values.get("seed", 0)),
            disambiguate=bool(values.get("disambiguate", True)),
            embedding=embedding,
            tokenizer=dict(values.get("tokenizer", {})),
        )
        cfg.embedding.validate()
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(read_toml(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        with atomic_open(path, "wb") as fh:
            tomli_w.dump(_drop_none(self.to_dict()), fh)

    def override(self, assignments: list[str]) -> RunConfig:
        """Apply ``section.key=value`` strings (values parsed as TOML, else kept as text)."""
        return RunConfig.from_dict(apply_overrides(self.to_dict(), assignments))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The mapping in a TOML config file; ConfigError when it is missing or malformed."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def apply_overrides(values: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """``values`` with ``section.key=value`` strings applied in place (values parsed as TOML, else text)."""
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value (e.g. tokenizer.epochs=50), got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        target = values
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        target[parts[-1]] = value
    return values


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}
