"""Pattern 6 as the rest of the framework sees it: its collectors and its parts in a running domain."""

from __future__ import annotations

import asyncio

from interlink.patterns.command_events.deadlines import DeadlineWatch
from interlink.patterns.command_events.handling import CommandDispatcher
from interlink.patterns.command_events.replies import ReplyDispatcher
from interlink.patterns.command_events.spec import command_messages, reply_handlers, sagas
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.specs.model import COMMAND_EVENT

__all__ = ["PATTERN", "CommandEvents"]


class CommandEvents(Part):
    """In one domain: the command events it handles, the replies it awaits, and the watch that times out
    its outstanding requests (replies awaited, saga steps) when their deadline passes."""

    def __init__(self, host: Host) -> None:
        domain = host.domain
        self.dispatchers = (CommandDispatcher(domain, host.clock), ReplyDispatcher(domain, host.clock))
        #: None when the domain awaits no reply and runs no saga.
        self.deadlines = (
            DeadlineWatch(domain, host.store, host.committer, host.clock)
            if domain.reply_handlers or domain.sagas
            else None
        )
        self._name = f"{domain.name}-deadlines"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.deadlines is not None:
            self._task = self.deadlines.start(self._name)

    async def tick(self) -> int:
        return await self.deadlines.tick() if self.deadlines is not None else 0

    async def stop(self) -> None:
        if self.deadlines is not None and self._task is not None:
            self.deadlines.stop()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


PATTERN = Pattern(
    COMMAND_EVENT,
    "Command Events",
    collectors=(command_messages, reply_handlers, sagas),
    parts=lambda host: [CommandEvents(host)],
)
