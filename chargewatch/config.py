"""`chargewatch.yaml`: the one config file, its schema, and errors that name file, line and key.

Every key is documented in docs/configuration.md. Strings may reference environment
variables as `${NAME}` (or `${NAME:-default}`) so secrets never live in the file.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from chargewatch.timeintervals import IntervalSpec
from chargewatch.yamlfile import (
    ConfigError,
    dotted,
    line_of,
    parse_yaml,
    validation_errors,
)
from notifier.config import NotificationsConfig  # the notifier's section: its own schema
from reports.config import ReportsConfig, check_zone  # the reports' section
from reports.schedule import check_receivers


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorizationConfig(_Section):
    """Answers to Authorize and transaction starts: the idTag registry (chargewatch/idtags.py)
    first, then `allow_list`, then `mode` as the policy for unknown tags."""

    mode: Literal["accept_all", "allow_list"] = "accept_all"
    allow_list: list[str] = Field(default_factory=list)
    # the status of a tag in neither the registry nor the allow-list (mode allow_list);
    # Unknown is 2.0.1's word, answered Invalid to 1.6 chargers (1.6 has no Unknown)
    unknown_tag_status: Literal["Invalid", "Blocked", "Unknown"] = "Invalid"
    # push the registry to connected chargers as their local authorisation list (off: a
    # monitoring system beside another CSMS must not overwrite that CSMS's lists)
    sync_local_lists: bool = False

    @field_validator("allow_list")
    @classmethod
    def _tags_fit(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not 1 <= len(tag) <= 20:  # OCPP 1.6 IdToken is CiString20Type
                raise ValueError(f"idTag {tag!r} must be 1 to 20 characters")
        return tags


class OcppTlsConfig(_Section):
    """wss:// for the OCPP endpoint: PEM files, relative to the config file."""

    cert_file: str = Field(min_length=1)  # the server certificate chain, leaf first
    key_file: str = Field(min_length=1)  # its private key, unencrypted
    ca_file: str | None = None  # profile 3: the CA that signs the chargers' certificates


class ChargerSecurityConfig(_Section):
    """OCPP security profiles: 0 none, 1 Basic auth, 2 Basic auth over TLS, 3 mutual TLS."""

    profile: int = Field(0, ge=0, le=3)  # the least every charger must connect with
    # charger ids neither a site lists nor `chargewatch chargers add` registered: refused
    # (HTTP 404), admitted only to be commissioned (BootNotification answered Pending, an
    # alert), or accepted like any other
    unknown_chargers: Literal["reject", "pending", "accept"] = "reject"
    tls: OcppTlsConfig | None = None
    # failed authentications from one address, or for one charger id, within the window
    # lock it out for `lockout` seconds (a brute force costs the attacker, not the server)
    max_failures: int = Field(5, ge=1, le=1000)
    failure_window: float = Field(60.0, gt=0)
    lockout: float = Field(300.0, ge=0)
    # a charger that opens the TCP connection but does not finish the WebSocket (and TLS)
    # handshake in this many seconds is dropped
    handshake_timeout: float = Field(10.0, gt=0, le=300)
    # open connections from one IP address (0: no cap); chargers behind one NAT share it
    max_connections_per_address: int = Field(256, ge=0)

    @model_validator(mode="after")
    def _tls_for_profiles(self) -> ChargerSecurityConfig:
        check_profile_tls(self.profile, self.tls, "profile")
        return self


def check_profile_tls(profile: int, tls: OcppTlsConfig | None, where: str) -> None:
    if profile >= 2 and tls is None:
        raise ValueError(f"{where}: security profile {profile} needs ocpp.security.tls")
    if profile == 3 and (tls is None or not tls.ca_file):
        raise ValueError(f"{where}: security profile 3 needs ocpp.security.tls.ca_file")


class OcppConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(9000, ge=0, le=65535)
    path_prefix: str = "/ocpp"
    heartbeat_interval: int = Field(300, ge=1, le=86400)
    max_frame_bytes: int = Field(65536, ge=1024)
    authorization: AuthorizationConfig = Field(default_factory=AuthorizationConfig)
    security: ChargerSecurityConfig = Field(default_factory=ChargerSecurityConfig)

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/")


class TlsConfig(_Section):
    """HTTPS for the API: PEM files, relative to the config file (TLS 1.2 at least)."""

    cert_file: str = Field(min_length=1)  # the certificate chain, leaf first
    key_file: str = Field(min_length=1)  # its private key, unencrypted


class HttpConfig(_Section):
    host: str = "0.0.0.0"
    port: int = Field(8000, ge=0, le=65535)
    # admin bearer tokens for /api/v1 (by ${ENV} reference); none here and none made by
    # `chargewatch tokens create`: the API is open (a warning)
    api_tokens: list[SecretStr] = Field(default_factory=list)
    tls: TlsConfig | None = None
    # how chargers reach this API (diagnostics uploads), when not http(s)://host:port
    public_url: str | None = None
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1, le=2**40)
    upload_ticket_hours: float = Field(1.0, gt=0, le=168)

    @field_validator("api_tokens")
    @classmethod
    def _long_enough(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        for i, token in enumerate(tokens):
            if len(token.get_secret_value()) < 16:
                raise ValueError(f"token {i + 1} is shorter than 16 characters")
        return tokens

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError("must be http(s)://host[:port][/path], without query or fragment")
        return value.rstrip("/")


class StorageConfig(_Section):
    # "full" fsyncs every group commit (survives power loss); "normal" survives a process crash.
    journal_sync: Literal["full", "normal"] = "full"
    message_log_retention_hours: float = Field(168, gt=0)


class InfluxConfig(_Section):
    """Where the history goes. InfluxDB 2.x / 3.x: api v2; InfluxDB 1.x: api v1."""

    url: str = Field(min_length=1, description="e.g. http://localhost:8086")
    api: Literal["v1", "v2"] = "v2"
    # v2 (InfluxDB 2.x, 3.x; for 3.x the bucket is the database name and org is ignored)
    token: SecretStr | None = None
    org: str = "-"
    bucket: str | None = None
    # v1 (InfluxDB 1.x /write)
    database: str | None = None
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    create_database: bool = True  # v1: CREATE DATABASE when the server says it is missing
    # shipping
    batch_size: int = Field(5000, ge=1, le=100_000)  # points per write
    flush_interval: float = Field(1.0, gt=0, le=3600)  # seconds a partial batch may wait
    timeout: float = Field(10.0, gt=0, le=600)  # seconds per HTTP request
    retry_max_delay: float = Field(60.0, ge=1, le=3600)  # cap of the exponential backoff
    shutdown_timeout: float = Field(5.0, ge=0, le=600)  # flushing on stop is bounded by this

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _target(self) -> InfluxConfig:
        if self.api == "v2" and not self.bucket:
            raise ValueError("api v2 needs a bucket (for InfluxDB 3.x: the database name)")
        if self.api == "v1" and not self.database:
            raise ValueError("api v1 needs a database")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class MetricsConfig(_Section):
    # A charger that is not connected and silent for this long stops being exported, and
    # so does one no longer in the config's sites (when the sites list chargers at all).
    forget_after_hours: float = Field(168, gt=0)


class RuleOverrideConfig(_Section):
    # selectors (all given must match; none given: the whole network)
    site: str | None = None
    vendor: str | None = None
    model: str | None = None
    charger: str | None = None
    rules: list[str] = Field(default_factory=list)  # empty: every rule having the params
    params: dict[str, float | str] = Field(min_length=1)


class SelfHealingConfig(_Section):
    """Rules' actions (rules/healer.py). Off by default: a monitor running beside another
    CSMS must not reset chargers nobody asked it to."""

    enabled: bool = False
    dry_run: bool = False  # journal what would be sent, send nothing
    max_per_charger_per_day: int = Field(3, ge=1, le=100)  # every rule's actions together
    timeout: float = Field(30.0, gt=0, le=300)  # seconds to wait for a charger's answer


class RulesConfig(_Section):
    builtin: bool = True  # the default pack shipped with ChargeWatch (rules/packs/)
    files: list[str] = Field(default_factory=list)  # more rule files: paths or globs
    disabled: list[str] = Field(default_factory=list)  # rule names switched off
    overrides: list[RuleOverrideConfig] = Field(default_factory=list)
    # evaluation trails the wall clock by this much, so an event still on its way to the
    # journal is seen before the timers of the moment it was received
    evaluation_delay: float = Field(2.0, ge=0, le=60)
    # seconds between engine state snapshots (a 10,000-charger engine takes about 1 s)
    snapshot_interval: float = Field(300.0, gt=0)
    self_healing: SelfHealingConfig = Field(default_factory=SelfHealingConfig)


class SiteConfig(_Section):
    id: str = Field(min_length=1)
    name: str | None = None
    chargers: list[str] = Field(default_factory=list)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    timezone: str = "UTC"
    # when the site is open (none: always); outage time outside them is excluded (NEVI)
    operating_hours: list[IntervalSpec] = Field(default_factory=list)
    # when its ports went into service (default: when each charger was first seen)
    commissioned: date | None = None
    # the least security profile its chargers must connect with (above ocpp.security's)
    security_profile: int | None = Field(None, ge=0, le=3)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _hours_in_site_time(self) -> SiteConfig:
        # an operating-hours entry without its own location is in the site's time zone
        hours = [
            h
            if "location" in h.model_fields_set
            else h.model_copy(update={"location": self.timezone})
            for h in self.operating_hours
        ]
        object.__setattr__(self, "operating_hours", hours)
        return self


class Config(_Section):
    data_dir: Path = Path("./var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    ocpp: OcppConfig = Field(default_factory=OcppConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    influxdb: InfluxConfig | None = None
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    sites: list[SiteConfig] = Field(default_factory=list)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)

    @model_validator(mode="after")
    def _site_profiles(self) -> Config:
        for i, site in enumerate(self.sites):
            if site.security_profile is not None:
                where = f"sites[{i}].security_profile"
                check_profile_tls(site.security_profile, self.ocpp.security.tls, where)
        return self

    @model_validator(mode="after")
    def _report_receivers(self) -> Config:
        check_receivers(self.reports.schedule, [r.name for r in self.notifications.receivers])
        return self

    @model_validator(mode="after")
    def _unique_sites(self) -> Config:
        seen: dict[str, str] = {}
        ids = set()
        for site in self.sites:
            if site.id in ids:
                raise ValueError(f"site id {site.id!r} appears twice")
            ids.add(site.id)
            for charger in site.chargers:
                if charger in seen:
                    raise ValueError(
                        f"charger {charger!r} is in sites {seen[charger]!r} and {site.id!r}"
                    )
                seen[charger] = site.id
        return self

    # where the file was read from: relative paths in it (rule files) are resolved there
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file this config was read from (None: built-in defaults)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    def tz_of_site(self) -> dict[str, str]:
        return {s.id: s.timezone for s in self.sites}

    def site_of(self) -> dict[str, str]:
        """Charger id -> site id, for the chargers the config places in a site."""
        return {c: s.id for s in self.sites for c in s.chargers}


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any, path: tuple[Any, ...], problems: list[tuple[tuple, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), problems) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _ENV_REF.sub(sub, value)
    return value


def parse_config(text: str, file: str = "<config>") -> Config:
    """Validate config text; raise ConfigError pointing at the offending line and key."""
    data, root = parse_yaml(text, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file=file, line=1)
    problems: list[tuple[tuple, str]] = []
    data = _expand_env(data, (), problems)
    if problems:
        path, message = problems[0]
        raise ConfigError(message, file=file, line=line_of(root, path), key=dotted(path))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc, root, file, "docs/configuration.md")
        first = errors[0]
        if len(errors) > 1:
            more = len(errors) - 1
            first = ConfigError(
                f"{first.reason} (and {more} more problem{'s' if more > 1 else ''})",
                file=first.file,
                line=first.line,
                key=first.key,
            )
        raise first from None
    if file != "<config>":
        config._base_dir = Path(file).resolve().parent
        config._source = file
    return config


def load_config(path: Path | None) -> Config:
    """Read the config file, or return the built-in defaults when no file is given."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", file=str(path)) from None
    return parse_config(text, file=str(path))
