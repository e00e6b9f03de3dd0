from __future__ import annotations

import os
from pathlib import Path

import pytest

from cityos.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_settings_come_from_cityos_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITYOS_DEFAULT_LANGUAGE", "en")
    monkeypatch.setenv("CITYOS_MQTT_URL", "mqtt://127.0.0.1:1883")
    settings = Settings()
    assert settings.default_language == "en"
    assert settings.mqtt_url == "mqtt://127.0.0.1:1883"


def test_defaults_are_an_embedded_sqlite_city_without_a_broker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("CITYOS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url == "sqlite:///./cityos.db"
    assert settings.mqtt_url is None
    assert settings.secret_key is None
    assert settings.default_language == "zh-CN"


def test_cityos_toml_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cityos.toml").write_text(
        'base_url = "https://city.example.org"\ndefault_language = "en"\n', "utf-8"
    )
    monkeypatch.setenv("CITYOS_DEFAULT_LANGUAGE", "zh-CN")
    settings = Settings()
    assert settings.base_url == "https://city.example.org"
    assert settings.cookie_secure
    assert settings.default_language == "zh-CN"


def test_plain_postgresql_urls_use_psycopg3() -> None:
    settings = Settings(database_url="postgresql://u@db.example.org/city")
    assert settings.database_url == "postgresql+psycopg://u@db.example.org/city"


def test_a_bad_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="default_language"):
        Settings(default_language="fr")  # type: ignore[arg-type]


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text("utf-8")
    missing = [name for name in Settings.model_fields if f"CITYOS_{name.upper()}" not in text]
    assert not missing, f"undocumented settings: {missing}"
