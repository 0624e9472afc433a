"""chargewatch.yaml: defaults, env references, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.config import Config, ConfigError, load_config, parse_config


def test_no_file_means_builtin_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert (config.ocpp.port, config.http.port, config.ocpp.host) == (9000, 8000, "0.0.0.0")
    assert config.ocpp.heartbeat_interval == 300
    assert config.ocpp.authorization.mode == "accept_all"
    assert config.data_dir == Path("./var")


def test_full_example_file_parses() -> None:
    example = Path(__file__).parent.parent / "chargewatch.example.yaml"
    config = load_config(example)
    assert config.sites and config.site_of()


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (
            "ocpp:\n  port: 9000\n  heartbeat_intervall: 60\n",
            3,
            "ocpp.heartbeat_intervall",
            "unknown key",
        ),
        ("ocpp:\n  heartbeat_interval: soon\n", 2, "ocpp.heartbeat_interval", "integer"),
        ("http:\n  port: 70000\n", 2, "http.port", "less than or equal to 65535"),
        (
            "sites:\n  - id: a\n    chargers: [X]\n  - id: b\n    chargers: [X]\n",
            1,
            None,
            "charger 'X' is in sites 'a' and 'b'",
        ),
        ("sites:\n  - id: a\n    latitude: 123\n", 3, "sites[0].latitude", "less than or equal"),
        (
            "ocpp:\n  authorization:\n    mode: allow_list\n    allow_list: [" + "T" * 21 + "]\n",
            4,
            "ocpp.authorization.allow_list",
            "1 to 20 characters",
        ),
        ("ocpp: [1, 2\n", 2, None, "invalid YAML"),
        ("- just\n- a list\n", 1, None, "top level must be a mapping"),
        ("storage:\n  journal_sync: sometimes\n", 2, "storage.journal_sync", "'full' or 'normal'"),
    ],
)
def test_errors_name_file_line_and_key(text: str, line: int, key: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="cw.yaml")
    err = info.value
    assert (err.file, err.line, err.key) == ("cw.yaml", line, key)
    assert words in str(err)
    assert str(err).startswith(f"cw.yaml:{line}: ")


def test_env_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_SITE", "depot-7")
    config = parse_config("sites:\n  - id: ${CW_SITE}\n    name: ${CW_NAME:-Unnamed}\n")
    assert (config.sites[0].id, config.sites[0].name) == ("depot-7", "Unnamed")
    monkeypatch.delenv("CW_SITE")
    with pytest.raises(
        ConfigError,
        match=r"cw.yaml:2: sites\[0\].id: environment variable "
        r"CW_SITE is not set",
    ):
        parse_config("sites:\n  - id: ${CW_SITE}\n", file="cw.yaml")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config file"):
        load_config(tmp_path / "missing.yaml")
