"""The one facade every operations client (CLI, console) uses on one domain's store and broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from interlink.core.clock import Clock, SystemClock
from interlink.core.domain import Domain
from interlink.core.messages import Event, split_version
from interlink.delivery import failures
from interlink.delivery.flow_tally import recent_flows
from interlink.delivery.relay import is_parked_outbox, requeue_parked
from interlink.exceptions import AdapterError, InvalidInput, InvalidPayload, MessageError, NotFoundError
from interlink.operations import saga_actions
from interlink.operations.audit import audit_entry, check_actor, record
from interlink.operations.flows import OUTBOX_SCAN, DomainTraffic, FlowMeter, traffic_of
from interlink.operations.letters import group_letters, letter_summary, letter_view, model_of
from interlink.operations.status import consumer_lag, domain_status
from interlink.operations.timeline import find_sagas, timeline
from interlink.operations.views import (
    AuditEntry,
    DeadLetterGroup,
    DeadLetterView,
    DomainStatus,
    Outcome,
    SagaTimeline,
    SagaView,
)
from interlink.patterns.command_events import load_saga
from interlink.patterns.command_events.records import REQUESTS
from interlink.patterns.command_events.sagas import SagaState
from interlink.ports.broker import Broker
from interlink.ports.envelope import Envelope, describe_validation_error, new_message_id
from interlink.ports.store import AuditRecord, ChangeSet, DeadLetter, Store
from interlink.runtime.backends import open_broker
from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.replay import LetterFilter, Replayer, find_letters
from interlink.runtime.replay import Outcome as ReplayOutcome
from interlink.runtime.settings import Settings

__all__ = ["Operations"]


log = logging.getLogger("interlink.operations")


class Operations:
    """What an operator can see and do on one domain's store (and broker, for replays).

    The store (and the broker, when given) must be connected; this object does not close them. Without a
    broker, what a replay emits waits in the outbox for the domain's relay; with one, it is published before
    the replay returns. Every action takes the ``actor`` and a non-empty ``reason`` and appends an entry to
    the audit log, in the action's transaction (see :mod:`interlink.operations.audit`). Call :meth:`close`
    at the end when replays ran (it flushes what the replaying runtime holds). A ``meter`` fed by the
    runtime hosting the domain gives :meth:`traffic` its recent message counts; without one they are read
    from the flow counts the domain's runtimes write to its store.
    """

    def __init__(
        self,
        domain: Domain,
        store: Store,
        broker: Broker | None = None,
        *,
        clock: Clock | None = None,
        meter: FlowMeter | None = None,
    ) -> None:
        self.domain = domain
        self.store = store
        self.broker = broker
        self.clock: Clock = clock or SystemClock()
        self.meter = meter
        self._runtime: DomainRuntime | None = None

    async def close(self) -> None:
        """Release what replays prepared (deferred-read counters, external service clients)."""
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.detach()

    async def _replaying(self) -> DomainRuntime:
        """The domain's runtime over this store, prepared (no consumer, nothing started), made once."""
        if self._runtime is None:
            # Without a broker nothing is published: a broker that is never connected stands in.
            broker = self.broker or open_broker("memory://")
            settings = Settings(consumers_per_domain=0, redrive_interval=None)
            self._runtime = DomainRuntime(self.domain, self.store, broker, settings, clock=self.clock)
            await self._runtime.prepare()
        return self._runtime

    def _audit(self, actor: str, action: str, target: str, reason: str, before: Any, after: Any) -> AuditRecord:
        return record(self.clock, actor, action, target, reason, before=before, after=after)

    async def _commit(self, change: ChangeSet) -> None:
        await self.store.commit([change])

    # -- dead letters ------------------------------------------------------------------------------

    async def _all_letters(self) -> list[DeadLetter]:
        return await find_letters(self.store, LetterFilter())

    async def dead_letter_groups(self) -> list[DeadLetterGroup]:
        """Every parked letter, grouped by fingerprint; the group that failed most recently first."""
        return group_letters(await self._all_letters())

    async def dead_letters(self, *, group: str | None = None, limit: int = 100) -> list[DeadLetterView]:
        """Parked letters, oldest first; only those of one group (fingerprint) when given."""
        if group is None:
            letters = await self.store.dead_letters(limit=limit)
        else:
            letters = [d for d in await self._all_letters() if failures.fingerprint(d) == group][:limit]
        return [letter_view(d) for d in letters]

    async def dead_letter(self, letter_id: int) -> DeadLetterView:
        """One parked letter in full; NotFoundError when there is none."""
        return letter_view(await self._letter(letter_id))

    async def _letter(self, letter_id: int) -> DeadLetter:
        letter = await self.store.dead_letter(letter_id)
        if letter is None:
            raise NotFoundError("dead letter", str(letter_id))
        return letter

    async def replay(self, letter_ids: Sequence[int], *, actor: str, reason: str) -> list[Outcome]:
        """Handle parked letters again, each once, in this process; a letter that fails again stays parked.

        Each replay and its audit entry commit together; a failure is audited on its own.
        """
        check_actor(actor, reason)
        runtime = await self._replaying()
        outcomes = []
        for letter_id in dict.fromkeys(letter_ids):
            outcomes.append(await self._replay_one(runtime, letter_id, actor, reason))
        await self._publish(runtime)
        return outcomes

    async def _replay_one(self, runtime: DomainRuntime, letter_id: int, actor: str, reason: str) -> Outcome:
        letter = await self.store.dead_letter(letter_id)
        if letter is None:
            return Outcome(letter_id=letter_id, outcome="gone")
        before = letter_summary(letter)
        target = f"dead-letter:{letter_id}"

        def audit(outcome: ReplayOutcome) -> AuditRecord:
            return self._audit(actor, "dead_letter.replay", target, reason, before, {"outcome": outcome})

        try:
            if is_parked_outbox(letter):
                # Back into the outbox (audited as requeued with it), then published: refused again, it is
                # parked again under a new letter id, and the outcome says so.
                entry = self._audit(actor, "dead_letter.replay", target, reason, before, {"outcome": "requeued"})
                message = await requeue_parked(self.store, letter_id, runtime.committer, audit=entry)
                if self.broker is not None:
                    await self._publish(runtime)
                    parked = await self.store.dead_letters(letter.subscription, limit=10_000)
                    again = next((d for d in parked if d.message_id == message.message_id), None)
                    if again is not None:
                        error = f"refused again (now dead letter {again.id}): {again.error}"
                        return await self._failed(letter_id, actor, target, reason, before, error)
                return Outcome(letter_id=letter_id, outcome="replayed")
            result = await Replayer(runtime).replay(letter_id, audit=audit)
        except Exception as exc:  # it failed again: it stays parked, and the attempt is on record
            return await self._failed(letter_id, actor, target, reason, before, f"{type(exc).__name__}: {exc}")
        return Outcome(letter_id=letter_id, outcome=result)

    async def _failed(self, letter_id: int, actor: str, target: str, reason: str, before: Any, error: str) -> Outcome:
        """Record a replay that failed again, and say so."""
        after = {"outcome": "failed", "error": error}
        await self._commit(ChangeSet(audit=[self._audit(actor, "dead_letter.replay", target, reason, before, after)]))
        return Outcome(letter_id=letter_id, outcome="failed", error=error)

    async def _publish(self, runtime: DomainRuntime) -> None:
        if self.broker is None:
            return
        try:
            await runtime.relay.publish_pending()
        except AdapterError as exc:
            # Committed all the same: the outbox keeps the messages for the domain's relay.
            log.warning("what the replays emitted waits in the outbox: %s", exc)

    async def replay_group(self, fingerprint: str, *, actor: str, reason: str) -> list[Outcome]:
        """Replay every letter of one group (see :meth:`replay`)."""
        check_actor(actor, reason)
        ids = [d.id for d in await self._all_letters() if d.id is not None and failures.fingerprint(d) == fingerprint]
        if not ids:
            raise NotFoundError("dead-letter group", fingerprint)
        return await self.replay(ids, actor=actor, reason=reason)

    async def discard(self, letter_ids: Sequence[int], *, actor: str, reason: str) -> int:
        """Drop parked letters without handling them; returns how many were dropped (gone ones are skipped).

        Each letter's audit entry keeps its message, since nothing else does any more.
        """
        check_actor(actor, reason)
        letters = [d for d in [await self.store.dead_letter(i) for i in dict.fromkeys(letter_ids)] if d is not None]
        for first in range(0, len(letters), 500):
            batch = letters[first : first + 500]
            change = ChangeSet(
                resolved_dead_letters=[d.id for d in batch if d.id is not None],
                audit=[
                    self._audit(
                        actor,
                        "dead_letter.discard",
                        f"dead-letter:{d.id}",
                        reason,
                        letter_summary(d, with_body=True),
                        None,
                    )
                    for d in batch
                ],
            )
            await self._commit(change)
        # Letters an order-preserving subscription held behind the dropped ones are released: handle them now.
        keys = sorted({(d.subscription, d.ordering_key) for d in letters if d.ordering_key is not None})
        if keys:
            replayer = Replayer(await self._replaying())
            for subscription, key in keys:
                await replayer.release(subscription, key)
        return len(letters)

    async def edit_and_replay(self, letter_id: int, payload: dict[str, Any], *, actor: str, reason: str) -> str:
        """Replay an edited copy of a parked message; returns the copy's new message id.

        The copy keeps the original's attributes, gets a new id and a ``replayof`` extension naming the
        original; its payload is checked against the message type first (InvalidPayload, nothing changed).
        The original letter is removed in the transaction that accepts the copy (handles it, or for an outbox
        message the broker refused, puts it back in the outbox); if the copy fails, both stay as they were.
        """
        check_actor(actor, reason)
        letter = await self._letter(letter_id)
        try:
            original = Envelope.decode(letter.body)
        except MessageError as exc:
            raise InvalidInput(
                f"dead letter {letter_id} is no CloudEvents envelope; it cannot be edited: {exc}"
            ) from exc
        self._validate(original.type, payload)
        attributes = original.model_dump(mode="json", exclude_none=True)
        attributes.update(id=new_message_id(), data=payload, time=self.clock.now().isoformat(), replayof=original.id)
        copy = Envelope.model_validate(attributes)
        body = copy.encode()
        before = letter_summary(letter) | {"payload": original.data}
        after = {"message_id": copy.id, "replayof": original.id, "payload": payload}
        target = f"dead-letter:{letter_id}"
        runtime = await self._replaying()
        try:
            if is_parked_outbox(letter):
                entry = self._audit(actor, "dead_letter.edit", target, reason, before, after | {"outcome": "requeued"})
                await requeue_parked(self.store, letter_id, runtime.committer, body=body, audit=entry)
            else:

                def audit(outcome: ReplayOutcome) -> AuditRecord:
                    return self._audit(actor, "dead_letter.edit", target, reason, before, after | {"outcome": outcome})

                if await Replayer(runtime).replay(letter_id, audit=audit, body=body) == "gone":
                    raise NotFoundError("dead letter", str(letter_id))
        except NotFoundError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            failed = self._audit(
                actor, "dead_letter.edit", target, reason, before, after | {"outcome": "failed", "error": error}
            )
            await self._commit(ChangeSet(audit=[failed]))
            raise
        await self._publish(runtime)
        return copy.id

    def _validate(self, message_type: str, payload: dict[str, Any]) -> None:
        model = model_of(self.domain, message_type)
        if model is None:
            raise InvalidInput(
                f"domain {self.domain.name!r} declares no message of type {message_type!r}: the edit cannot be checked"
            )
        data = payload
        version = split_version(message_type)[1]
        if issubclass(model, Event) and version != model.message_version():
            data = self.domain.upcasters.upcast(model, version, dict(payload), f"edited {message_type}")
        try:
            model.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayload(
                f"the edited payload does not match {model.__name__}: {describe_validation_error(exc)}"
            ) from exc

    # -- sagas -------------------------------------------------------------------------------------

    async def sagas(
        self,
        *,
        state: str | None = None,
        definition: str | None = None,
        older_than: float | None = None,
        limit: int = 100,
    ) -> list[SagaView]:
        """Sagas by id: of one state and one definition (saga name), started over ``older_than`` seconds ago."""
        return await find_sagas(self.domain, self.store, self.clock.now(), state, definition, older_than, limit)

    async def saga(self, saga_id: str) -> SagaTimeline:
        """One saga with its timeline; NotFoundError when there is none."""
        state = await self._saga(saga_id)
        request = await REQUESTS.get(self.store, state.awaiting) if state.awaiting is not None else None
        return timeline(self.domain, state, request, self.clock.now())

    async def _saga(self, saga_id: str) -> SagaState:
        state = await load_saga(self.store, saga_id)
        if state is None:
            raise NotFoundError("saga", saga_id)
        return state

    def _saga_audit(self, actor: str, action: str, saga_id: str, reason: str) -> saga_actions.Audit:
        return lambda before, after: self._audit(actor, action, f"saga:{saga_id}", reason, before, after)

    async def retry_saga_step(self, saga_id: str, *, actor: str, reason: str) -> None:
        """Re-send the command the saga waits for, under the same command id (the receiver dedupes it)."""
        check_actor(actor, reason)
        audit = self._saga_audit(actor, "saga.retry", saga_id, reason)
        change = await saga_actions.retry_step(self.domain, self.store, self.clock, saga_id, audit)
        await self._commit_and_publish(change)

    async def compensate_saga(self, saga_id: str, *, actor: str, reason: str) -> None:
        """Fail the running saga's current step with ``reason``: its compensations run, last step first."""
        check_actor(actor, reason)
        audit = self._saga_audit(actor, "saga.compensate", saga_id, reason)
        change = await saga_actions.compensate(self.domain, self.store, self.clock, saga_id, reason, audit)
        await self._commit_and_publish(change)

    async def abandon_saga(self, saga_id: str, *, actor: str, reason: str) -> None:
        """End the saga as abandoned: no more steps, no compensations."""
        check_actor(actor, reason)
        audit = self._saga_audit(actor, "saga.abandon", saga_id, reason)
        change = await saga_actions.abandon(self.domain, self.store, self.clock, saga_id, reason, audit)
        await self._commit_and_publish(change)

    async def _commit_and_publish(self, change: ChangeSet) -> None:
        await self._commit(change)
        if change.outbox and self.broker is not None:
            await self._publish(await self._replaying())

    # -- audit and status --------------------------------------------------------------------------

    async def audit(self, *, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The audit log, newest first; only entries with an id below ``before`` when given (the next page)."""
        return [audit_entry(r) for r in await self.store.audit_entries(limit, before=before)]

    async def traffic(self) -> DomainTraffic:
        """This domain's side of its arrows on the landscape, by message type: what it sent recently, what waits
        in its outbox, its parked letters, and its consumer lag.

        What it sent comes from the meter when it watches this domain's commits (the domain runs in this
        process), else from the flow counts every process hosting it writes to its store (the last full minute
        and the current one, see :func:`~interlink.delivery.flow_tally.recent_flows`).
        """
        now = self.clock.now()
        meter = self.meter
        sent = meter.recent(self.domain.name) if meter is not None else None
        window = meter.window if meter is not None else FlowMeter().window
        source: Literal["process", "store"] = "process"
        if sent is None:
            flows = await recent_flows(self.store, now)
            source = "store"
            if flows is not None:
                sent, window = flows.sent, flows.window
        return traffic_of(
            self.domain.name,
            await self.store.outbox_batch(OUTBOX_SCAN),
            await self._all_letters(),
            await consumer_lag(self.broker, self.domain.name),
            sent,
            window,
            now,
            sent_from=None if sent is None else source,
        )

    async def status(self) -> DomainStatus:
        """Outbox, dead letters, deferred updates, replicas, inbound files, sagas, and consumer lag."""
        letters = await self._all_letters()
        groups = len({failures.fingerprint(d) for d in letters})
        now: datetime = self.clock.now()
        return await domain_status(self.domain, self.store, self.broker, letters, groups, now)
