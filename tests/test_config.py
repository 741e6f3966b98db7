import pytest

from quasid.config import RunConfig
from quasid.errors import ConfigError


def test_round_trip_and_overrides(tmp_path):
    cfg = RunConfig(method="rqvae", data="x", tokenizer={"epochs": 5})
    cfg = cfg.override(["tokenizer.lr=0.002", "seed=3", "embedding.source=attributes", 'method="rqkmeans"'])
    assert cfg.tokenizer == {"epochs": 5, "lr": 0.002}
    assert (cfg.seed, cfg.embedding.source, cfg.method) == (3, "attributes", "rqkmeans")
    cfg.save(tmp_path / "c.toml")
    assert RunConfig.load(tmp_path / "c.toml") == cfg


def test_bad_config_messages(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        RunConfig().override(["epochs"])
    with pytest.raises(ConfigError, match="unknown config key"):
        RunConfig.from_dict({"methd": "x"})
    with pytest.raises(ConfigError, match=r"embedding\.source"):
        RunConfig().override(["embedding.source=pixels"])
    (tmp_path / "bad.toml").write_text("method = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.load(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.load(tmp_path / "none.toml")
