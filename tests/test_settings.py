"""Settings: declared once with help text, documented in the README, read from TOML and env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.settings import (
    MASK,
    Settings,
    SettingsError,
    declared,
    describe,
    env_name,
    load_settings,
    mask_url,
    unknown_env_vars,
)

README = Path(__file__).resolve().parents[1] / "README.md"
REQUIRED = [
    "COACHBOT_DATABASE_URL",
    "COACHBOT_REDIS_URL",
    "COACHBOT_DATA_DIR",
    "COACHBOT_PUBLIC_URL",
    "COACHBOT_CHROMA_URL",
    "COACHBOT_OLLAMA_URL",
    "COACHBOT_LLM_MODEL",
    "COACHBOT_SECRET_KEY",
    "COACHBOT_LOG_LEVEL",
]


def readme_settings_table() -> dict[str, str]:
    """Rows of the README's settings table: env name → description cell."""
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"^\|\s*`(COACHBOT_[A-Z0-9_]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_setting_has_help_text() -> None:
    for f in declared():
        assert len(f.metadata.get("help", "").strip()) >= 20, f"{f.name} needs help text"


def test_every_setting_is_in_the_readme_table() -> None:
    table = readme_settings_table()
    missing = [env_name(f.name) for f in declared() if env_name(f.name) not in table]
    assert not missing, f"add these settings to the README's settings table: {missing}"
    unknown = set(table) - {env_name(f.name) for f in declared()} - {"COACHBOT_CONFIG"}
    assert not unknown, f"the README documents settings that do not exist: {unknown}"


def test_the_issue_required_settings_exist() -> None:
    names = {env_name(f.name) for f in declared()}
    assert set(REQUIRED) <= names


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings(environ={})
    assert settings.redis_url is None
    assert settings.ollama_url is None
    assert settings.chroma_url is None
    assert settings.data_dir == Path("var")
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("/var/coachbot.db")


def test_environment_wins_over_file_and_cli_wins_over_both(tmp_path: Path) -> None:
    toml = tmp_path / "coachbot.toml"
    toml.write_text('port = 9000\nlog_level = "DEBUG"\nauto_migrate = false\n')
    from_file = load_settings(toml, environ={})
    assert (from_file.port, from_file.log_level, from_file.auto_migrate) == (9000, "DEBUG", False)
    from_env = load_settings(toml, environ={"COACHBOT_PORT": "9100"})
    assert from_env.port == 9100
    assert load_settings(toml, environ={"COACHBOT_PORT": "9100"}, port=9200).port == 9200
    via_env_var = load_settings(environ={"COACHBOT_CONFIG": str(toml)})
    assert via_env_var.port == 9000


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"COACHBOT_PORT": "eighty"},
            "COACHBOT_PORT from the environment: 'eighty' is not an integer",
        ),
        ({"COACHBOT_AUTO_MIGRATE": "maybe"}, "is not a boolean"),
        ({"COACHBOT_LOG_LEVEL": "LOUD"}, "is not one of DEBUG, INFO, WARNING, ERROR"),
        ({"COACHBOT_DB_POOL_SIZE": "2"}, "COACHBOT_DB_POOL_SIZE: 2 is too small; at least 3"),
    ],
)
def test_invalid_values_get_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ=environ)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})
    typo = tmp_path / "typo.toml"
    typo.write_text('databse_url = "sqlite:///x.db"\n')
    with pytest.raises(SettingsError, match=r"unknown setting 'databse_url'.*'database_url'"):
        load_settings(typo, environ={})


def test_case_and_empty_values() -> None:
    settings = load_settings(environ={"COACHBOT_LOG_LEVEL": "debug", "COACHBOT_REDIS_URL": ""})
    assert settings.log_level == "DEBUG"
    assert settings.redis_url is None


def test_secrets_are_masked() -> None:
    settings = Settings(
        secret_key="s3cr3t-value",
        database_url="postgresql://coach:hunter22@db.internal/coachbot",
        redis_url="redis://:redispass@127.0.0.1:6379/0",
    )
    shown = {name: value for name, value, _ in describe(settings)}
    assert shown["COACHBOT_SECRET_KEY"] == MASK
    assert shown["COACHBOT_DATABASE_URL"] == f"postgresql://coach:{MASK}@db.internal/coachbot"
    assert "redispass" not in shown["COACHBOT_REDIS_URL"]
    assert all("hunter22" not in v and "s3cr3t" not in v for v in shown.values())
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_unknown_variables_are_reported_but_test_ones_are_not() -> None:
    env = {"COACHBOT_DATABSE_URL": "x", "COACHBOT_TEST_DATABASE_URL": "y", "COACHBOT_PORT": "1"}
    assert unknown_env_vars(env) == ["COACHBOT_DATABSE_URL"]


def test_the_pool_size_default_is_the_engines() -> None:
    from engine.db import POOL_SIZE

    assert load_settings(environ={}).db_pool_size == POOL_SIZE
