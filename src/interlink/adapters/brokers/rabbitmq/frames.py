"""The AMQP 0-9-1 frames of a relayed message, encoded by hand: ``basic.publish``, its content header and its
body frames, for one write of a whole batch (see ``_Session.publish``).

pamqp builds and encodes each frame through generic property tables, about ten times the cost of these few
``struct`` calls; what a relayed message carries is fixed (content type, persistent delivery mode, message
id, type), so its frames are encoded directly. A unit test holds them byte for byte to pamqp's encoding.
"""

from __future__ import annotations

import struct

__all__ = ["publish_frames"]

_FRAME = struct.Struct(">BHI")  # frame type, channel, payload size; then the payload and the frame end
_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_PUBLISH = struct.pack(">HHH", 60, 40, 0)  # class basic, method publish, reserved ticket
_CONTENT = struct.Struct(">HHQH")  # class basic, weight, body size, property flags
# Property flags, highest bit first in the spec's order: content-type, delivery-mode, message-id, type.
_FLAGS = 1 << 15 | 1 << 12 | 1 << 7 | 1 << 5
_PERSISTENT = b"\x02"


def short_string(text: str) -> bytes:
    """An AMQP short string: its UTF-8 length in one octet, then the bytes."""
    raw = text.encode()
    if len(raw) > 255:
        raise ValueError(f"{text[:40]!r}... is longer than AMQP's 255-byte short strings")
    return bytes((len(raw),)) + raw


def publish_frames(
    channel: int, exchange: bytes, message_type: str, body: bytes, message_id: str, content_type: bytes, chunk: int
) -> list[bytes]:
    """The frames of one persistent message routed by its type (``exchange`` and ``content_type`` already
    short strings), its body cut into frames of at most ``chunk`` bytes."""
    kind = short_string(message_type)
    method = _PUBLISH + exchange + kind + b"\x00"  # mandatory and immediate unset
    header = _CONTENT.pack(60, 0, len(body), _FLAGS) + content_type + _PERSISTENT + short_string(message_id) + kind
    frames = [_FRAME.pack(_METHOD, channel, len(method)), method, _END]
    frames += (_FRAME.pack(_HEADER, channel, len(header)), header, _END)
    for at in range(0, len(body), chunk):
        part = body[at : at + chunk]
        frames += (_FRAME.pack(_BODY, channel, len(part)), part, _END)
    return frames
