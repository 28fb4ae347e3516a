"""Two small domains for the tests of refused and unreadable messages.

``emitter`` notes numbers, each emitting ``Noted`` with as much padding as asked for (a message can be made
larger than a broker accepts); ``listener`` keeps one ``Seen`` record per number, counting how many times
its event was applied, so a message delivered twice shows as a count of 2.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope, new_message_id

emitter = Domain("emitter", description="Notes numbers and tells the listener")
listener = Domain("listener", description="Applies every noted number once")
DOMAINS = [emitter, listener]


@emitter.aggregate
class Note(Aggregate):
    """A noted number."""

    size: int = 0


@emitter.event
class Noted(PublicEvent):
    """A number was noted; ``padding`` only makes the message as large as wanted."""

    n: int
    padding: str = ""


class NoteInput(BaseModel):
    """Input of note: the number, and the padding (characters) of its event."""

    n: int
    padding: int = Field(default=0, ge=0)


@emitter.command(http="POST /notes")
async def note(ctx: Context, data: NoteInput) -> Note:
    """Note a number and emit Noted with the padding asked for."""
    new = Note(id=str(data.n), size=data.padding)
    await ctx.save(new)
    ctx.emit(Noted(n=data.n, padding="x" * data.padding), about=new)
    return new


@listener.aggregate
class Seen(Aggregate):
    """One noted number as the listener saw it; ``applied`` counts the applications of its event."""

    applied: int = 0


class SeeInput(BaseModel):
    """Input of see: the number seen."""

    n: int


@listener.command
async def see(ctx: Context, data: SeeInput) -> Seen:
    """Count one more application of the number's event."""
    seen = await ctx.find(Seen, str(data.n)) or Seen(id=str(data.n))
    seen.applied += 1
    await ctx.save(seen)
    return seen


@listener.on(Noted)
async def noted(ctx: Context, event: Noted) -> None:
    """Apply the number's event (once, the inbox sees to it; ``applied`` would show a second time)."""
    await ctx.execute(see, {"n": event.n})


def noted_message(n: int, padding: int = 0) -> OutgoingMessage:
    """A Noted event of the emitter as it would leave its outbox, ``padding`` characters larger."""
    envelope = Envelope(
        id=new_message_id(),
        source=emitter.name,
        type=Noted.message_type(),
        subject=str(n),
        time=datetime.now(UTC),
        data={"n": n, "padding": "x" * padding},
    )
    return OutgoingMessage.of(envelope)
