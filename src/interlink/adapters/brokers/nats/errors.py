"""The one place where nats-py's exceptions become Interlink's: :func:`translate` and its table.

``BrokerUnavailable`` means "try again later" (the relay and the consumers do); ``BrokerError`` means retrying
will not help until someone changes something (credentials, TLS, a stream configured by hand);
``MessageRefused`` means the server will never take this one message (over max_payload or the stream's
maximum message size, a subject it cannot take), so the relay parks it and publishes the rest.
nats-py's messages carry no credentials, and neither do the ones made here.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

from nats import errors as nats_errors
from nats.js import errors as js_errors

from interlink.exceptions import BrokerError, BrokerUnavailable, MessageRefused

__all__ = ["MESSAGE_TOO_BIG", "TRANSLATIONS", "refusal", "translate", "translating"]

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


#: JetStream's error code for a message over the stream's (or account's) maximum message size.
MESSAGE_TOO_BIG = 10054


def refusal(exc: BaseException, message_id: str) -> MessageRefused | None:
    """A MessageRefused when ``exc`` says the server will never take message ``message_id``, else None."""
    if isinstance(exc, nats_errors.MaxPayloadError):
        return MessageRefused(message_id, "over the server's max_payload")
    if isinstance(exc, nats_errors.BadSubjectError):
        return MessageRefused(message_id, "its subject is not one NATS accepts")
    if isinstance(exc, js_errors.APIError) and exc.err_code == MESSAGE_TOO_BIG:
        return MessageRefused(message_id, f"JetStream: {exc.description or 'message size exceeds maximum allowed'}")
    return None


def translate(exc: BaseException, doing: str, message_id: str | None = None) -> BrokerError:
    """The Interlink exception for ``exc``, raised while ``doing`` (e.g. "publish to 127.0.0.1:4222");
    when it concerns one message (``message_id``), a refusal for good is a MessageRefused naming it."""
    if isinstance(exc, BrokerError):
        return exc
    if message_id is not None and (refused := refusal(exc, message_id)) is not None:
        return refused
    kind = next((kind for driver, kind in TRANSLATIONS if isinstance(exc, driver)), BrokerError)
    detail = str(exc) or type(exc).__name__
    return kind(f"NATS {doing}: {detail}")


@contextlib.contextmanager
def translating(doing: str, message_id: str | None = None) -> Iterator[None]:
    """Raise what :func:`translate` makes of any driver or socket error inside the block."""
    try:
        yield
    except (nats_errors.Error, OSError) as exc:
        raise translate(exc, doing, message_id) from exc
