"""The one place where aio-pika, aiormq and pamqp exceptions become Interlink's broker errors.

``BrokerUnavailable`` means "try again later": the connection or channel is gone, the broker is
restarting, low on resources, or did not answer in time; the relay and consumers back off and retry, and
the adapter reconnects on its next call. ``BrokerError`` means retrying will not help by itself: refused
credentials, a missing or differently declared queue, a protocol error. ``MessageRefused`` (see
:func:`refusal`) means the broker will never take one message: it closed the channel because the message is
over its ``max_message_size``.

Messages name the broker by its address without credentials; the password is scrubbed from the driver's
text too, in case a driver ever puts a URL in an exception.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Iterator, Sequence

import aiormq.exceptions as amqp
import pamqp.exceptions

from interlink.exceptions import BrokerError, BrokerUnavailable, MessageRefused
from interlink.ports.broker import OutgoingMessage, too_large

from .config import RabbitMqSettings

__all__ = ["TRANSLATIONS", "refusal", "translate", "translating"]

# RabbitMQ's words when it closes a channel over a message above max_message_size (3.8 and later).
_TOO_LARGE = re.compile(r"message size (\d+) is larger than (?:configured )?max size (\d+)")

# First match wins, so subclasses come before their bases.
TRANSLATIONS: tuple[tuple[type[BaseException], type[BrokerError]], ...] = (
    # The channel or connection this call used is closed: a new one may work.
    (amqp.ChannelInvalidStateError, BrokerUnavailable),
    # Channel closed by the broker: 403, 404 and 406 are mistakes (rights, missing or clashing queue);
    # 405 (resource locked by another connection) can clear up.
    (amqp.ChannelAccessRefused, BrokerError),
    (amqp.ChannelNotFoundEntity, BrokerError),
    (amqp.ChannelPreconditionFailed, BrokerError),
    (amqp.DuplicateConsumerTag, BrokerError),
    (amqp.ChannelLockedResource, BrokerUnavailable),
    (amqp.ChannelClosed, BrokerUnavailable),
    # Connection refused at login: wrong user, password or vhost, or an incompatible server.
    (amqp.AuthenticationError, BrokerError),
    (amqp.ProbableAuthenticationError, BrokerError),
    (amqp.IncompatibleProtocolError, BrokerError),
    (amqp.ConnectionNotAllowed, BrokerError),
    # Connection closed by the broker for a protocol error on our side: a bug, not an outage.
    (amqp.ConnectionSyntaxError, BrokerError),
    (amqp.ConnectionFrameError, BrokerError),
    (amqp.ConnectionCommandInvalid, BrokerError),
    (amqp.ConnectionChannelError, BrokerError),
    (amqp.ConnectionUnexpectedFrame, BrokerError),
    (amqp.ConnectionNotImplemented, BrokerError),
    # Forced close (shutdown, restart), resource alarm, internal error, lost socket: an outage.
    (amqp.ConnectionClosed, BrokerUnavailable),
    (amqp.AMQPConnectionError, BrokerUnavailable),
    # A publish the broker nacked was not stored; it may take it later.
    (amqp.PublishError, BrokerError),
    (amqp.DeliveryError, BrokerUnavailable),
    (amqp.MethodNotImplemented, BrokerError),
    (amqp.ProtocolSyntaxError, BrokerError),
    (amqp.AMQPError, BrokerError),
    (pamqp.exceptions.PAMQPException, BrokerError),
    # A certificate that does not verify will not verify next time either.
    (ssl.SSLCertVerificationError, BrokerError),
    (TimeoutError, BrokerUnavailable),
    (OSError, BrokerUnavailable),  # connection refused or reset, DNS, TLS handshake cut short
)


def translate(exc: BaseException, settings: RabbitMqSettings) -> BrokerError | None:
    """The Interlink error for a driver exception, or None when it is not a driver error at all."""
    # aiormq wraps socket and TLS errors in AMQPConnectionError: the wrapped one says what happened.
    if isinstance(exc, amqp.AMQPConnectionError) and isinstance(exc.__cause__, OSError):
        exc = exc.__cause__
    for driver_type, interlink_type in TRANSLATIONS:
        if isinstance(exc, driver_type):
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if settings.password:
                detail = detail.replace(settings.password, "***")
            return interlink_type(f"RabbitMQ at {settings.address}: {detail}")
    return None


def refusal(exc: BaseException, messages: Sequence[OutgoingMessage]) -> MessageRefused | None:
    """The MessageRefused naming which of ``messages`` the broker closed the channel over, when ``exc`` is
    its refusal of a message above its ``max_message_size``; None for any other error."""
    if not isinstance(exc, amqp.ChannelPreconditionFailed):
        return None
    found = _TOO_LARGE.search(str(exc))
    if found is None:
        return None
    size, limit = int(found[1]), int(found[2])
    # The refusal names a size, not a message: the first of that size, else the first over the limit.
    culprit = next((m for m in messages if len(m.body) == size), None)
    culprit = culprit or next((m for m in messages if len(m.body) > limit), None)
    return too_large(culprit, limit) if culprit is not None else None


@contextlib.contextmanager
def translating(settings: RabbitMqSettings) -> Iterator[None]:
    """Re-raise driver exceptions of the block as BrokerError or BrokerUnavailable."""
    try:
        yield
    except Exception as exc:
        translated = translate(exc, settings)
        if translated is None:
            raise
        raise translated from exc
