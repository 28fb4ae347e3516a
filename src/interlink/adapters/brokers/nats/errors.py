"""The one place where nats-py's exceptions become Interlink's: :func:`translate` and its table.

``BrokerUnavailable`` means "try again later" (the relay and the consumers do); ``BrokerError`` means retrying
will not help until someone changes something (credentials, TLS, a stream configured by hand).
nats-py's messages carry no credentials, and neither do the ones made here.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

from nats import errors as nats_errors
from nats.js import errors as js_errors

from interlink.exceptions import BrokerError, BrokerUnavailable

__all__ = ["TRANSLATIONS", "translate", "translating"]

#: (driver exception, Interlink exception): the first row the exception is an instance of wins, so the
#: specific rows come before their bases.
TRANSLATIONS: tuple[tuple[type[BaseException], type[BrokerError]], ...] = (
    # Refused for good: wrong credentials or TLS setup, or a message the server cannot take.
    (nats_errors.AuthorizationError, BrokerError),
    (nats_errors.SecureConnWantedError, BrokerError),
    (nats_errors.SecureConnRequiredError, BrokerError),
    (nats_errors.SecureConnFailedError, BrokerError),
    (ssl.SSLError, BrokerError),  # a certificate problem; an OSError, so before the row of OSError
    (nats_errors.MaxPayloadError, BrokerError),
    (nats_errors.BadSubjectError, BrokerError),
    # JetStream answered but is not ready: starting up after a restart, electing a leader.
    (js_errors.ServiceUnavailableError, BrokerUnavailable),
    (js_errors.ServerError, BrokerUnavailable),
    (js_errors.NoStreamResponseError, BrokerUnavailable),
    (js_errors.TooManyStalledMsgsError, BrokerUnavailable),
    # JetStream refused the request itself (bad config, a stream that is not ours): not worth retrying.
    (js_errors.APIError, BrokerError),
    # The connection is down, reconnecting, or too slow: the usual outage.
    (nats_errors.NoRespondersError, BrokerUnavailable),
    (nats_errors.TimeoutError, BrokerUnavailable),
    (nats_errors.ConnectionClosedError, BrokerUnavailable),
    (nats_errors.ConnectionDrainingError, BrokerUnavailable),
    (nats_errors.ConnectionReconnectingError, BrokerUnavailable),
    (nats_errors.NoServersError, BrokerUnavailable),
    (nats_errors.OutboundBufferLimitError, BrokerUnavailable),
    (nats_errors.StaleConnectionError, BrokerUnavailable),
    (TimeoutError, BrokerUnavailable),
    (OSError, BrokerUnavailable),
    (nats_errors.Error, BrokerError),
)


def translate(exc: BaseException, doing: str) -> BrokerError:
    """The Interlink exception for ``exc``, raised while ``doing`` (e.g. "publish to 127.0.0.1:4222")."""
    if isinstance(exc, BrokerError):
        return exc
    kind = next((kind for driver, kind in TRANSLATIONS if isinstance(exc, driver)), BrokerError)
    detail = str(exc) or type(exc).__name__
    return kind(f"NATS {doing}: {detail}")


@contextlib.contextmanager
def translating(doing: str) -> Iterator[None]:
    """Raise what :func:`translate` makes of any driver or socket error inside the block."""
    try:
        yield
    except (nats_errors.Error, OSError) as exc:
        raise translate(exc, doing) from exc
