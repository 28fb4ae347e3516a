"""Reading a NATS stream's retained history, for rebuilding a replica from the broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable

from nats import errors as nats_errors
from nats.js import JetStreamContext

from interlink.adapters.brokers.nats.config import NatsSettings, history_config
from interlink.adapters.brokers.nats.errors import translating
from interlink.adapters.brokers.nats.pull import Puller
from interlink.exceptions import BrokerUnavailable

__all__ = ["read_history"]

_HISTORY_BATCH = 500


async def read_history(
    js: JetStreamContext,
    puller: Puller,
    settings: NatsSettings,
    where: tuple[str, str],
    wanted: set[str] | None,
    multi_filter: bool,
    live: Callable[[], JetStreamContext | None],
) -> AsyncGenerator[bytes, None]:
    """The bodies kept in ``where`` (stream, channel) on the ``wanted`` subjects (all if None), oldest first.

    Reads from the stream's first retained message with an ephemeral consumer that acks nothing, up to the
    last message there when it gets there; the consumer is deleted at the end while the connection
    (``live()``) still stands.
    """
    stream, channel = where
    with translating(f"read the history of {channel!r}"):
        config = history_config(settings, channel, wanted, multi_filter)
        reader = (await js.add_consumer(stream, config)).name
    try:
        expected = 1
        while True:
            request: dict[str, int | bool] = {"batch": _HISTORY_BATCH, "no_wait": True}
            batch = await puller.pull([(stream, reader)], request, settings.request_timeout)
            for msg in batch:
                if msg.metadata.sequence.consumer != expected:
                    raise BrokerUnavailable(f"NATS lost messages of {channel!r}'s history on the way")
                expected += 1
                if wanted is None or msg.subject in wanted:
                    yield msg.data
            if len(batch) < _HISTORY_BATCH:
                return
    finally:
        with contextlib.suppress(nats_errors.Error, OSError):
            current = live()
            if current is not None:
                await current.delete_consumer(stream, reader)
