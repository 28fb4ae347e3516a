"""The RabbitMQ adapter's hand-encoded publish frames are byte for byte what pamqp (aiormq's codec) encodes."""

from __future__ import annotations

import pytest
from aiormq.abc import ChannelFrame
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from interlink.adapters.brokers.rabbitmq.frames import publish_frames, short_string
from interlink.adapters.brokers.rabbitmq.session import CONTENT_TYPE


def _pamqp(channel: int, exchange: str, message_type: str, body: bytes, message_id: str, chunk: int) -> bytes:
    props = Basic.Properties(
        content_type=CONTENT_TYPE, delivery_mode=2, message_id=message_id, message_type=message_type
    )
    frames: list[Frame | ContentHeader | ContentBody] = [
        Basic.Publish(exchange=exchange, routing_key=message_type),
        ContentHeader(0, len(body), props),
    ]
    frames += [ContentBody(body[at : at + chunk]) for at in range(0, len(body), chunk)]
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload


@pytest.mark.parametrize(
    ("channel", "exchange", "message_type", "body", "message_id"),
    [
        (1, "interlink.customer.events", "OrderPlaced", b"{}" * 100, "0f8a2c6e9b7d4e1fa3c5b2d4e6f80912"),
        (7, "ns.shop_2:events", "Typé", b"", "id-é"),  # UTF-8 type and id, an empty body: no body frame
        (65535, "", "x" * 255, b"y" * 1000, "m"),  # the default exchange, a 255-byte key, three body frames
    ],
)
def test_publish_frames_match_pamqp(
    channel: int, exchange: str, message_type: str, body: bytes, message_id: str
) -> None:
    """Method, content header and body frames (cut at the frame size) equal pamqp's bytes."""
    ours = publish_frames(
        channel, short_string(exchange), message_type, body, message_id, short_string(CONTENT_TYPE), chunk=400
    )
    assert b"".join(ours) == _pamqp(channel, exchange, message_type, body, message_id, chunk=400)


def test_a_short_string_over_255_bytes_is_refused() -> None:
    """AMQP short strings hold 255 bytes: a longer message type fails before anything is sent."""
    with pytest.raises(ValueError, match="255-byte"):
        short_string("é" * 128)
