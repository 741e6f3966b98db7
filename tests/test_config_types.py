"""Config values are checked against each field's type: exact conversions made, everything else a
ConfigError naming the key, the value and the type it takes (catalogued as config-value-type)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from quasid.config import EmbeddingConfig, RunConfig, typed_values
from quasid.errors import ConfigError, lookup


@dataclass
class Section:
    rate: float = 0.5
    steps: int = 10
    name: str = "a"
    on: bool = True
    dims: list[int] = field(default_factory=lambda: [4, 2])
    limit: int | None = None
    inner: EmbeddingConfig = field(default_factory=EmbeddingConfig)


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("rate", "0.002", 0.002),
        ("rate", 3, 3.0),
        ("rate", "1e-3", 0.001),
        ("steps", 3.0, 3),
        ("steps", "12", 12),
        ("name", 2024, "2024"),
        ("on", "false", False),
        ("on", "True", True),
        ("dims", ["8", 4.0], [8, 4]),
        ("limit", "7", 7),
        ("inner", {"attribute_dim": "32"}, {"attribute_dim": 32}),
    ],
)
def test_exact_conversions_are_made(key: str, given: object, expected: object) -> None:
    out = typed_values(Section, {key: given})[key]
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("key", "given", "names"),
    [
        ("rate", "abc", ["rate='abc'", "(text)", "a number", "e.g. rate=0.5"]),
        ("steps", 2.5, ["steps=2.5", "(a number)", "an integer", "e.g. steps=10"]),
        ("steps", True, ["steps=True", "(a boolean)", "an integer"]),
        ("name", 1.5, ["name=1.5", "text"]),
        ("on", "maybe", ["on='maybe'", "true or false"]),
        ("on", 1, ["on=1", "true or false"]),
        ("dims", "8,4", ["dims='8,4'", "a list of integers", "e.g. dims=[4, 2]"]),
        ("dims", [8, "x"], ["dims[1]='x'", "an integer"]),
        ("limit", "none", ["limit='none'", "an integer"]),
        ("inner", 3, ["inner=3", "a table of EmbeddingConfig settings"]),
        ("inner", {"attribute_dim": "wide"}, ["inner.attribute_dim='wide'", "an integer", "e.g."]),
    ],
)
def test_mismatches_name_key_value_and_type(key: str, given: object, names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        typed_values(Section, {key: given})
    message = str(info.value)
    assert all(n in message for n in names), message
    assert lookup(message).code == "config-value-type", message


def test_keys_the_class_lacks_pass_through_for_its_own_error() -> None:
    assert typed_values(Section, {"nope": "x", "steps": "2"}) == {"nope": "x", "steps": 2}


def test_set_values_are_typed_and_bad_ones_name_the_key() -> None:
    cfg = RunConfig(method="rqvae", data="x").override(
        ['tokenizer.lr="0.002"', "tokenizer.epochs=3.0", 'seed="4"', "disambiguate=false", "data=2024"]
    )
    assert cfg.tokenizer == {"lr": 0.002, "epochs": 3} and type(cfg.tokenizer["epochs"]) is int
    assert (cfg.seed, cfg.disambiguate, cfg.data) == (4, False, "2024")
    for assignment, names in [
        ("tokenizer.lr=abc", ["tokenizer.lr='abc'", "a number"]),
        ("tokenizer.hidden_dims=64", ["tokenizer.hidden_dims=64", "a list of integers"]),
        ("seed=abc", ["seed='abc'", "an integer"]),
        ("disambiguate=maybe", ["disambiguate='maybe'", "true or false"]),
        ("embedding.attribute_dim=2.5", ["embedding.attribute_dim=2.5", "an integer"]),
    ]:
        with pytest.raises(ConfigError) as info:
            RunConfig(method="rqvae", data="x").override([assignment])
        assert all(n in str(info.value) for n in names), str(info.value)


def test_tokenizer_values_follow_the_method_and_other_methods_settings_wait() -> None:
    # rqkmeans has no lr: typed only by its own fields, the stale key is left for the pipeline to name
    cfg = RunConfig(method="rqkmeans", data="x", tokenizer={"lr": "fast", "n_iter": "5"})
    cfg = RunConfig.from_dict(cfg.to_dict())
    assert cfg.tokenizer == {"lr": "fast", "n_iter": 5}
    assert RunConfig.from_dict({"method": "no-such-method", "tokenizer": {"lr": "x"}}).tokenizer == {
        "lr": "x"
    }


def test_a_toml_file_of_the_wrong_type_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('method = "rqvae"\nseed = 1.5\n')
    with pytest.raises(ConfigError, match=r"run\.toml: seed=1\.5 has the wrong type \(a number\)"):
        RunConfig.load(path)
    path.write_text('method = "rqvae"\nseed = 2.0\n[tokenizer]\nlr = "0.01"\n')
    cfg = RunConfig.load(path)
    assert (cfg.seed, cfg.tokenizer["lr"]) == (2, 0.01)
