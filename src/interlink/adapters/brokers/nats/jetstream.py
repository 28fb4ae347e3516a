"""nats-py's JetStream context with one fix, for :class:`.NatsBroker`: a refused publish fails its future."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import errors as js_errors

__all__ = ["JetStream"]


class JetStream(JetStreamContext):
    """nats-py's JetStream context with one fix: a publish the stream refuses (over its maximum message
    size, say) fails its own future. nats-py 2.16 raises that error inside its reply callback instead, so
    the future never completes and the refusal would pass for an unanswered publish, an outage."""

    async def _handle_async_reply(self, msg: Msg) -> None:
        try:
            await super()._handle_async_reply(msg)
        except js_errors.APIError as exc:
            token = msg.subject[len(self._nc._inbox_prefix) + 22 + 2 :]  # as nats-py reads it
            future = self._publish_async_futures.get(token)
            if future is not None and not future.done():
                future.set_exception(exc)
