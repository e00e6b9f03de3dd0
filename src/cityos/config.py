"""Settings, read from ``CITYOS_*`` environment variables and an optional ``cityos.toml``."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")


class Settings(BaseSettings):
    """Every setting of CityOS. Each one is documented in ``docs/configuration.md``."""

    model_config = SettingsConfigDict(
        env_prefix="CITYOS_", toml_file="cityos.toml", extra="ignore", frozen=True
    )

    database_url: str = Field(
        "sqlite:///./cityos.db",
        description="SQLAlchemy URL of the database (SQLite file or postgresql+psycopg://).",
    )
    secret_key: str | None = Field(
        None,
        description="Signs session cookies and CSRF tokens; generated and stored in the "
        "database on first run when unset.",
    )
    mqtt_url: str | None = Field(None, description="MQTT broker URL; unset means no broker.")
    base_url: str = Field(
        "http://127.0.0.1:8000", description="Public URL of this CityOS, used in links."
    )
    default_language: Language = Field(
        "zh-CN", description="UI language when neither the user nor the browser chose one."
    )
    map_tile_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Raster tile URL template for maps; empty for a plain background.",
    )
    map_tile_attribution: str = Field(
        "© OpenStreetMap contributors", description="Attribution shown under the map tiles."
    )
    max_upload_mb: float = Field(
        50.0, gt=0, description="Largest accepted upload (GeoJSON and other files), in MB."
    )
    datahub_max_upload_mb: float = Field(
        1024.0,
        gt=0,
        description="Largest data file accepted by the data hub's upload API (loads and schema "
        "inference), in MB; attached files use max_upload_mb. Load bigger files with "
        "`cityos data load`.",
    )
    session_hours: float = Field(12.0, gt=0, description="How long a login session lasts.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins allowed per account or address in the window."
    )
    login_window_minutes: float = Field(
        15.0, gt=0, description="Window over which failed logins are counted."
    )

    timezone: str = Field(
        "Asia/Shanghai",
        description="The city's time zone (IANA name): business hours, dates on pages, the "
        "default time zone of imported datetimes.",
    )
    reopen_window_days: float = Field(
        14.0, ge=0, description="Days after resolution during which a citizen may reopen a case."
    )
    sla_imminent_fraction: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="Share of an SLA clock used up at which a case is flagged as at risk.",
    )
    intake_rate_limit: int = Field(
        10, ge=1, description="Anonymous reports accepted per client address in the window."
    )
    intake_rate_window_minutes: float = Field(
        10.0, gt=0, description="Window over which anonymous reports are counted."
    )
    max_photo_mb: float = Field(8.0, gt=0, description="Largest accepted photo, in MB.")
    max_photos: int = Field(5, ge=1, description="Photos accepted with one report or update.")
    smtp_host: str | None = Field(
        None, description="SMTP server for e-mail; unset: messages stay in the outbox and log."
    )
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP login name.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS with the SMTP server.")
    mail_from: str = Field(
        "CityOS <no-reply@cityos.invalid>", description="Sender address of e-mail."
    )
    worker_interval_seconds: float = Field(
        30.0,
        ge=0,
        description="How often the server's background worker sends mail and webhooks and "
        "checks SLA clocks; 0 turns it off (run `cityos worker` instead).",
    )
    sta_max_top: int = Field(
        1000,
        ge=1,
        description="Most entities one SensorThings response returns; a bigger $top is capped "
        "and the rest is reached through @iot.nextLink.",
    )
    sta_default_top: int = Field(
        100, ge=1, description="Entities per SensorThings response when the request has no $top."
    )
    sta_max_expand_depth: int = Field(
        5, ge=1, description="Deepest $expand nesting a SensorThings request may ask for."
    )
    sta_max_filter_nodes: int = Field(
        300, ge=10, description="Largest $filter expression (operators, calls and operands)."
    )
    sta_mqtt_selects: str = Field(
        "result,phenomenonTime",
        description="The `?$select=` lists (separated by `;`) for which SensorThings MQTT "
        "topics such as `v1.1/Datastreams(1)/Observations?$select=result,phenomenonTime` are "
        "published; the broker does not tell the server what clients subscribe to.",
    )
    mqtt_topic_prefix: str = Field(
        "",
        description="Prefix before every SensorThings and bulk MQTT topic (e.g. `city1/`), for a "
        "broker shared by several installations; empty: `v1.1/…` and `cityos/v1/…`.",
    )
    mqtt_client_id: str = Field(
        "cityos-ingest",
        description="MQTT client id prefix of the ingest worker (its persistent session).",
    )
    mqtt_share_group: str = Field(
        "cityos",
        description="MQTT 5 shared-subscription group of the ingest workers "
        "(`$share/<group>/...`).",
    )
    ingest_embedded: bool = Field(
        True,
        description="With a broker configured, `cityos serve` also runs an ingest task; turn "
        "off when separate `cityos ingest` workers run.",
    )
    ingest_batch_size: int = Field(
        1000, ge=1, description="Most readings the ingest worker stores in one transaction."
    )
    ingest_batch_ms: float = Field(
        50.0, gt=0, description="Longest the ingest worker waits to fill a batch, in ms."
    )
    sensing_retention_days: float = Field(
        400.0,
        gt=0,
        description="Raw observations older than this are removed by `cityos sensing prune`; "
        "rollups are kept.",
    )
    ops_cache_seconds: float = Field(
        10.0,
        ge=0,
        description="How long the operations center keeps a computed figure; any event that "
        "changes it drops it sooner. 0 turns the cache off.",
    )
    ops_relay: bool = Field(
        True,
        description="With a broker configured, relay live events (cases, alerts, readings, "
        "operator notes) between CityOS processes over MQTT, so every screen hears them.",
    )
    chromium_path: str | None = Field(
        None,
        description="The Chromium (or Chrome) executable that prints assessment reports to "
        "PDF; unset: `chromium`, `chromium-browser` or `google-chrome` on the PATH.",
    )

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def cookie_secure(self) -> bool:
        return self.base_url.startswith("https://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@lru_cache
def get_settings() -> Settings:
    return Settings()
