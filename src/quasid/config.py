"""Run configuration: one TOML file that reproduces a run (data, embedding, method, seed, tokenizer).

CLI options override the file; the resolved config is written into the run folder. Every value
(TOML or ``--set``) is checked against its field's type, so a wrong one is a ConfigError naming
the key, not a TypeError deep inside training.
"""

from __future__ import annotations

import json
import re
import tomllib
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import tomli_w

from quasid.errors import ConfigError
from quasid.io import atomic_open

#: How an item's text fields become one vector: ``joined`` embeds one ``field: value; ...`` string
#: (the encoder's window, 256 word pieces for MiniLM, cuts what comes last, mostly the description);
#: ``fields`` embeds each field apart and averages the non-empty ones (LETTER's and CollisionGenRec's
#: convention: every field gets a whole window and an equal say).
POOLINGS = ("joined", "fields")
#: The default pooling: ``fields`` measured best downstream on amazon-beauty-text (docs/embeddings.md).
DEFAULT_POOLING = "fields"


def check_pooling(pooling: str) -> None:
    """ConfigError unless ``pooling`` is one of :data:`POOLINGS`."""
    if pooling not in POOLINGS:
        raise ConfigError(f"embedding.pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")


@dataclass
class EmbeddingConfig:
    """How item content becomes vectors when the catalog carries none."""

    source: str = "auto"  # auto | text | attributes | given
    model: str = "all-MiniLM-L6-v2"  # sentence-transformers model (text source)
    pooling: str = DEFAULT_POOLING  # text source: one of POOLINGS
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
        check_pooling(self.pooling)
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
        values = typed_values(cls, values)
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
        cfg.tokenizer = tokenizer_values(cfg.method, cfg.tokenizer)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        values = read_toml(path)
        try:
            return cls.from_dict(values)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

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


def tokenizer_values(method: str, values: dict[str, Any]) -> dict[str, Any]:
    """``[tokenizer]`` values typed by the method's config class before any data is read.

    Unknown methods and names pass: the pipeline names them with the valid ones when it builds
    the tokenizer (a config may carry another method's settings until then).
    """
    from quasid.tokenizers import TOKENIZERS, get_tokenizer_class  # here: torch loads when a run needs it

    if method not in TOKENIZERS:
        return values
    return typed_values(get_tokenizer_class(method).config_class, values, prefix="tokenizer.")


def typed_values(cls: type, values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``values`` with each of ``cls``'s fields checked against its type hint.

    Exact conversions are made (``"0.002"`` -> 0.002, ``3.0`` -> 3, ``"true"`` -> True, ``7`` -> "7"
    for text); any other mismatch is a ConfigError naming the key, the value and the type it takes.
    Nested dataclass fields are checked as sections; keys ``cls`` lacks pass through unchanged.
    """
    hints = typing.get_type_hints(cls)
    defaults = {
        f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        for f in fields(cls)
        if f.default is not MISSING or f.default_factory is not MISSING
    }
    out = dict(values)
    for name, value in values.items():
        if name in hints:
            out[name] = _typed(value, hints[name], f"{prefix}{name}", defaults.get(name))
    return out


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Mismatch(Exception):  # noqa: N818 - internal signal, never leaves this module
    """A value that is not of (and not exactly convertible to) the wanted type."""


def _typed(value: Any, hint: Any, key: str, default: Any = None) -> Any:
    try:
        return _convert(value, hint, key)
    except _Mismatch:
        example = ""
        if default is not None and not is_dataclass(default) and default != {}:
            example = f", e.g. {key}={json.dumps(default)}"
        got = f"{key}={_show(value)} has the wrong type ({_kind(value)})"
        raise ConfigError(f"{got}: {key} takes {_describe(hint)}{example}") from None


def _convert(value: Any, hint: Any, key: str) -> Any:
    """``value`` as ``hint`` (exact conversions only); _Mismatch otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except _Mismatch:
                continue
        raise _Mismatch
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, dict):
            raise _Mismatch
        return typed_values(hint, value, prefix=f"{key}.")
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        inner = args[1] if len(args) == 2 else Any
        return {k: _typed(v, inner, f"{key}.{k}") for k, v in value.items()}
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _Mismatch
        inner = args[0] if args else Any
        items = [_typed(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or hint) is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Mismatch
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value)
        raise _Mismatch
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch
    return value


def _describe(hint: Any) -> str:
    """What a type hint takes, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if isinstance(hint, type) and is_dataclass(hint):
        return f"a table of {hint.__name__} settings"
    if origin is dict or hint is dict:
        return "a table"
    if origin in (list, tuple) or hint in (list, tuple):
        inner = _describe(args[0]) if args and args[0] is not Any else "values"
        return f"a list of {_PLURAL.get(inner, inner)}"
    return _WORDS.get(hint, getattr(hint, "__name__", str(hint)))


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
_PLURAL = {"an integer": "integers", "a number": "numbers", "true or false": "booleans", "text": "texts"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in d.items() if v is not None}
