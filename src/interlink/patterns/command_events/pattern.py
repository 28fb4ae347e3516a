"""Pattern 6 as the rest of the framework sees it: its collectors and its parts in a running domain."""

from __future__ import annotations

import asyncio
from datetime import datetime

from interlink.observability.metrics import Readings
from interlink.patterns.command_events.deadlines import DeadlineWatch
from interlink.patterns.command_events.declarations import reply_handlers_of
from interlink.patterns.command_events.handling import CommandDispatcher
from interlink.patterns.command_events.replies import ReplyDispatcher
from interlink.patterns.command_events.sagas import SagaStatus, sagas_of
from interlink.patterns.command_events.spec import command_messages, reply_handlers, sagas
from interlink.patterns.command_events.views import list_sagas
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.specs.model import COMMAND_EVENT

__all__ = ["PATTERN", "CommandEvents"]

#: The saga states worth a gauge: those still going on, and the failed ones that need an operator.
_SAGA_STATES = (SagaStatus.RUNNING, SagaStatus.COMPENSATING, SagaStatus.FAILED)
_PAGE = 1000


class CommandEvents(Part):
    """In one domain: the command events it handles, the replies it awaits, and the watch that times out
    its outstanding requests (replies awaited, saga steps) when their deadline passes."""

    def __init__(self, host: Host) -> None:
        domain = host.domain
        self.dispatchers = (CommandDispatcher(domain, host.clock), ReplyDispatcher(domain, host.clock))
        #: None when the domain awaits no reply and runs no saga.
        self.deadlines = (
            DeadlineWatch(domain, host.store, host.committer, host.clock)
            if reply_handlers_of(domain) or sagas_of(domain)
            else None
        )
        self._name = f"{domain.name}-deadlines"
        self._domain, self._store, self._sagas = domain.name, host.store, bool(sagas_of(domain))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.deadlines is not None:
            self._task = self.deadlines.start(self._name)

    async def sample(self, readings: Readings, now: datetime) -> None:
        if not self._sagas:
            return
        for state in _SAGA_STATES:
            attributes: dict[str, str | int] = {"interlink.domain": self._domain, "interlink.saga.state": state.value}
            readings.set("interlink.sagas", attributes, await self._count(state))

    async def _count(self, state: SagaStatus) -> int:
        count, after = 0, None
        while True:
            page = await list_sagas(self._store, status=state.value, after=after, limit=_PAGE)
            count += len(page)
            if len(page) < _PAGE:
                return count
            after = page[-1].id

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
    commands="interlink.patterns.command_events.cli:register",
)
