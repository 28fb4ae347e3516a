"""The Redis broker's URL, parsed once into frozen settings, and the redaction that keeps secrets out.

``redis://[user[:password]@]host[:port][/db]`` or ``rediss://...`` for TLS, with query options:

- ``namespace`` (``interlink``): prefix of every key, so landscapes (or tests) sharing a server never meet;
- ``visibility_timeout`` (s, 30): how long a fetched message stays invisible before it is delivered again;
- ``dedupe_window`` (s, 120): how long a published message id is remembered to drop a re-send;
- ``connect_timeout`` (s, 5): how long to wait for a connection before the broker counts as unavailable;
- ``max_message_size`` (bytes): the largest message to publish; the server's ``proto-max-bulk-len`` (read at
  connect, 512 MB by default) caps it, and is the limit when this is not set or CONFIG is not allowed;
- ``ca_file``, ``cert_file``, ``key_file``, ``verify`` (``full``, ``ca`` or ``none``): TLS, ``rediss://`` only.
  ``full`` checks the certificate chain and the host name, ``ca`` the chain only, ``none`` nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from interlink.exceptions import ConfigurationError

__all__ = ["RedisSettings", "parse_url", "redact"]

SCHEMES = ("redis", "rediss")
DEFAULTS = {"visibility_timeout": 30.0, "dedupe_window": 120.0, "connect_timeout": 5.0}
_TLS_OPTIONS = ("ca_file", "cert_file", "key_file", "verify")
_VERIFY = {"full": ("required", True), "ca": ("required", False), "none": ("none", False)}


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages, logs and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{hostport}").geturl()


@dataclass(frozen=True)
class RedisSettings:
    """Everything a :class:`RedisBroker` needs to connect; the password never shows in its repr."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    namespace: str = "interlink"
    visibility_timeout: float = DEFAULTS["visibility_timeout"]
    dedupe_window: float = DEFAULTS["dedupe_window"]
    connect_timeout: float = DEFAULTS["connect_timeout"]
    max_message_size: int | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: str = "full"

    @property
    def address(self) -> str:
        """``host:port/db``: what errors and logs name instead of the URL, which may hold a password."""
        return f"{self.host}:{self.port}/{self.db}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (if any) replaced, for driver messages that might echo it."""
        return text.replace(self.password, "***") if self.password else text

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of ``redis.asyncio.Redis``: address, credentials, timeouts, and TLS for every
        connection of its pool."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "socket_connect_timeout": self.connect_timeout,
            # Above the broker's longest blocking read (5 s), so only a dead connection times out.
            "socket_timeout": 15.0,
            # A short retry hides a blip; a real outage surfaces within a second as BrokerUnavailable.
            "retry": Retry(ExponentialBackoff(cap=0.25, base=0.02), 3),
        }
        if self.tls:
            cert_reqs, check_hostname = _VERIFY[self.verify]
            options |= {
                "ssl": True,
                "ssl_ca_certs": self.ca_file,
                "ssl_certfile": self.cert_file,
                "ssl_keyfile": self.key_file,
                "ssl_cert_reqs": cert_reqs,
                "ssl_check_hostname": check_hostname,
            }
        return options


def _seconds(name: str, value: str | float, shown: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} in {shown!r} must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise ConfigurationError(f"{name} must be positive, got {seconds}")
    return seconds


def _text(value: str | float | None) -> str | None:
    return None if value is None else str(value)


def parse_url(url: str, **overrides: float | str | None) -> RedisSettings:
    """Settings from a ``redis://`` or ``rediss://`` URL; keyword ``overrides`` (not None) win over its query.

    Raises ConfigurationError naming the problem; the password never appears in the message.
    """
    shown = redact(url)
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(f"not a Redis broker URL: {shown!r} (use redis://host:port/db or rediss://)")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigurationError(f"the port in {shown!r} must be a number") from None
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise ConfigurationError(f"the database in {shown!r} must be a number, got {db_text!r}")
    options: dict[str, str | float] = dict(parse_qsl(parts.query, keep_blank_values=True))
    options |= {k: v for k, v in overrides.items() if v is not None}
    known = {"namespace", "max_message_size", *DEFAULTS, *_TLS_OPTIONS}
    if unknown := set(options) - known:
        raise ConfigurationError(f"unknown option(s) {sorted(unknown)} in broker URL {shown!r}")
    tls = parts.scheme == "rediss"
    if not tls and (used := sorted(set(options) & set(_TLS_OPTIONS))):
        raise ConfigurationError(f"TLS option(s) {used} in {shown!r} need the rediss:// scheme")
    verify = str(options.get("verify", "full"))
    if verify not in _VERIFY:
        raise ConfigurationError(f"verify must be one of {sorted(_VERIFY)}, got {verify!r}")
    namespace = str(options.get("namespace", "interlink"))
    if not namespace or any(c.isspace() for c in namespace):
        raise ConfigurationError(f"namespace must be non-empty without spaces, got {namespace!r}")
    seconds = {name: _seconds(name, options.get(name, default), shown) for name, default in DEFAULTS.items()}
    return RedisSettings(
        host=parts.hostname or "localhost",
        port=port,
        db=int(db_text),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        namespace=namespace,
        tls=tls,
        verify=verify,
        ca_file=_text(options.get("ca_file")),
        cert_file=_text(options.get("cert_file")),
        key_file=_text(options.get("key_file")),
        visibility_timeout=seconds["visibility_timeout"],
        dedupe_window=seconds["dedupe_window"],
        connect_timeout=seconds["connect_timeout"],
        max_message_size=_size(options.get("max_message_size"), shown),
    )


def _size(value: str | float | None, shown: str) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit() or int(value) < 1:
        raise ConfigurationError(f"max_message_size in {shown!r} must be a whole number of bytes, got {value!r}")
    return int(value)
