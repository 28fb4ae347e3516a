"""Two domains for the replay tests: ``hub`` takes a message of every kind from ``peer``, and fails on each
until the fix is applied (``REPLAY_APP_FIXED=1`` in the environment, or ``replay_app.FIXED = True``).

Every kind counts its applications on a ``Tally`` of its own (``<kind>:<key>``), staged *before* it fails,
so a failed attempt that leaked its writes, or a message applied twice, shows as a tally above 1:

- ``plain``: ``@hub.on(Paid)``;
- ``notification``: ``on_notification(AccountChanged)`` fetches the account from peer's API, and its
  update command fails;
- ``deferred``: ``deferred(ProfileChanged)``; peer's producers still send version 1 of the event, whose
  upcaster fails (there is no code of the domain's own on a deferred notification's path);
- ``replica``: ``replica(LimitChanged)`` with a handler on the same event, which fails after the copy;
- ``command``: ``@hub.handles(Book)``, sent by peer, which counts the replies it gets;
- ``reply``: ``@hub.on_reply(Ask)``, the reply to what hub asked peer;
- ``saga``: the ``onboarding`` saga, whose second step's command cannot be built; its end is counted.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from interlink import Aggregate, Command, Context, Domain, PublicEvent, Reply, Step
from interlink.core.messages import NotificationEvent
from interlink.patterns.command_events.sagas import SagaState
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent

hub = Domain("hub", description="Takes one message of every kind, and fails on each until fixed")
peer = Domain("peer", description="Sends hub events, notifications, commands and replies")
DOMAINS = [hub, peer]
KINDS = ("plain", "notification", "deferred", "replica", "command", "reply", "saga")

FIX_ENV = "REPLAY_APP_FIXED"
FIXED = False


def fail_unless_fixed(kind: str, key: str) -> None:
    """The bug the fix removes."""
    if not (FIXED or os.environ.get(FIX_ENV) == "1"):
        raise RuntimeError(f"{kind} {key}: the fix is not deployed")


class TallyInput(BaseModel):
    """Input of the tally commands: which tally to count on."""

    key: str


@hub.aggregate
class Tally(Aggregate):
    """How many times one kind's message was applied in hub (1 when exactly once)."""

    applied: int = 0


@hub.command
async def tally(ctx: Context, data: TallyInput) -> None:
    """Count one application."""
    found = await ctx.find(Tally, data.key) or Tally(id=data.key)
    found.applied += 1
    await ctx.save(found)


@peer.aggregate
class PeerTally(Aggregate):
    """How many times something happened in peer (a command run, a reply taken)."""

    applied: int = 0


@peer.command
async def peer_tally(ctx: Context, data: TallyInput) -> None:
    """Count one occurrence in peer."""
    found = await ctx.find(PeerTally, data.key) or PeerTally(id=data.key)
    found.applied += 1
    await ctx.save(found)


# -- events and notifications peer emits ----------------------------------------------------------------


@peer.event
class Paid(PublicEvent):
    """A payment happened (for a plain event handler)."""

    payment_id: str


@peer.aggregate
class Account(Aggregate):
    """An account, served on peer's API."""

    owner: str


@peer.event
class AccountChanged(NotificationEvent):
    """An account changed (thin)."""


@peer.event
class ProfileChanged(NotificationEvent):
    """A profile changed (thin); at version 2, while peer's producers still send version 1."""

    __message_version__ = 2


@peer.aggregate
class Limit(Aggregate):
    """A credit limit, replicated to hub."""

    amount: int


@peer.event
class LimitChanged(StateTransferEvent):
    """A limit's state after a change (fat)."""

    amount: int


class Key(BaseModel):
    """Input of peer's commands that need only an id."""

    id: str


@peer.command
async def pay(ctx: Context, data: Key) -> None:
    """Emit Paid."""
    ctx.emit(Paid(payment_id=data.id))


@peer.command
async def change_account(ctx: Context, data: Key) -> None:
    """Create or change an account and notify."""
    account = await ctx.find(Account, data.id) or Account(id=data.id, owner="first")
    account.owner = f"owner of {data.id}"
    await ctx.save(account)
    ctx.emit(AccountChanged.of(account, path=f"/accounts/{data.id}"), about=account)


@peer.query(http="GET /accounts/{id}")
async def account_by_id(ctx: Context, id: str) -> Account:
    """The account with its version."""
    return await ctx.get(Account, id)


@peer.command
async def change_limit(ctx: Context, data: Key) -> None:
    """Create or change a limit and send its state."""
    limit = await ctx.find(Limit, data.id) or Limit(id=data.id, amount=0)
    limit.amount += 100
    await ctx.save(limit)
    ctx.emit(LimitChanged.of(limit), about=limit)


# -- hub's event handler, notification, deferred update and replica ---------------------------------------


@hub.on(Paid)
async def paid(ctx: Context, event: Paid) -> None:
    """Count the payment, then fail until fixed."""
    await ctx.execute(tally, TallyInput(key=f"plain:{event.payment_id}"))
    fail_unless_fixed("plain", event.payment_id)


class AccountData(BaseModel):
    """Hub's view of peer's account."""

    id: str
    owner: str
    version: int


@hub.aggregate
class AccountCopy(Aggregate):
    """Hub's copy of an account."""

    owner: str


accounts = hub.external_service(
    "peer", resource="/accounts/{id}", translate=lambda raw: AccountData.model_validate(raw), retries=0
)


@hub.command
async def keep_account(ctx: Context, data: AccountData) -> None:
    """Update the copy and count it, then fail until fixed."""
    copy = await ctx.find(AccountCopy, data.id) or AccountCopy(id=data.id, owner=data.owner)
    copy.owner = data.owner
    await ctx.save(copy)
    await ctx.execute(tally, TallyInput(key=f"notification:{data.id}"))
    fail_unless_fixed("notification", data.id)


hub.on_notification(AccountChanged, fetch=accounts, command=keep_account, aggregate=AccountCopy)


@hub.aggregate
class ProfileCopy(Aggregate):
    """Hub's copy of a profile, fetched on first read."""

    owner: str


@hub.command
async def keep_profile(ctx: Context, data: AccountData) -> None:
    """Update the profile copy (on a read)."""
    copy = await ctx.find(ProfileCopy, data.id) or ProfileCopy(id=data.id, owner=data.owner)
    copy.owner = data.owner
    await ctx.save(copy)


hub.deferred(ProfileChanged, fetch=accounts, command=keep_profile, aggregate=ProfileCopy)


@hub.upcaster(ProfileChanged, from_version=1)
def profile_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 has the same fields; reading version 1 fails until fixed."""
    fail_unless_fixed("deferred", str(data.get("id")))
    return data


class LimitCopy(Replica):
    """Hub's replica of a limit."""

    amount: int


hub.replica(LimitChanged, model=LimitCopy)


@hub.on(LimitChanged)
async def limit_changed(ctx: Context, event: LimitChanged) -> None:
    """Count the change (after the copy is updated), then fail until fixed."""
    await ctx.execute(tally, TallyInput(key=f"replica:{event.id}"))
    fail_unless_fixed("replica", event.id)


# -- a command hub handles, a reply hub takes, a saga hub runs --------------------------------------------


class Book(Command):
    """A booking peer asks hub to make."""

    ref: str


class Booked(BaseModel):
    """Confirmation of Book."""

    ref: str


@hub.handles(Book)
async def book(ctx: Context, command: Book) -> Booked:
    """Count the booking, then fail until fixed."""
    await ctx.execute(tally, TallyInput(key=f"command:{command.ref}"))
    fail_unless_fixed("command", command.ref)
    return Booked(ref=command.ref)


@peer.command
async def ask_booking(ctx: Context, data: Key) -> None:
    """Send Book to hub."""
    ctx.send(Book(ref=data.id), to="hub")


@peer.on_reply(Book)
async def booking_replied(ctx: Context, reply: Reply[Book, Booked]) -> None:
    """Count the replies peer gets to its bookings (1 when the command ran exactly once)."""
    await ctx.execute(peer_tally, TallyInput(key=f"booked:{reply.command.ref}:{reply.outcome.value}"))


class Ask(Command):
    """A question hub asks peer."""

    ref: str


@peer.handles(Ask)
async def answer(ctx: Context, command: Ask) -> Booked:
    """Answer; counted in peer."""
    await ctx.execute(peer_tally, TallyInput(key=f"asked:{command.ref}"))
    return Booked(ref=command.ref)


@hub.command
async def ask(ctx: Context, data: Key) -> None:
    """Ask peer."""
    ctx.send(Ask(ref=data.id), to="peer")


@hub.on_reply(Ask)
async def asked(ctx: Context, reply: Reply[Ask, Booked]) -> None:
    """Count the reply, then fail until fixed."""
    await ctx.execute(tally, TallyInput(key=f"reply:{reply.command.ref}"))
    fail_unless_fixed("reply", reply.command.ref)


class Reserve(Command):
    """Saga step 1, run by peer."""

    ref: str


class Activate(Command):
    """Saga step 2, run by peer."""

    ref: str


@peer.handles(Reserve)
async def reserve(ctx: Context, command: Reserve) -> Booked:
    """Step 1; counted in peer."""
    await ctx.execute(peer_tally, TallyInput(key=f"reserve:{command.ref}"))
    return Booked(ref=command.ref)


@peer.handles(Activate)
async def activate(ctx: Context, command: Activate) -> Booked:
    """Step 2; counted in peer."""
    await ctx.execute(peer_tally, TallyInput(key=f"activate:{command.ref}"))
    return Booked(ref=command.ref)


class Onboarding(BaseModel):
    """The saga's data."""

    ref: str


def build_activate(data: Onboarding) -> Activate:
    """Step 2's command; building it fails until fixed (so step 1's reply is parked)."""
    fail_unless_fixed("saga", data.ref)
    return Activate(ref=data.ref)


@hub.command
async def onboarded(ctx: Context, data: SagaState) -> None:
    """The saga ended: count it."""
    await ctx.execute(tally, TallyInput(key=f"saga:{data.data['ref']}:{data.status.value}"))


onboarding = hub.saga(
    "onboarding",
    Onboarding,
    steps=[Step(Reserve), Step(Activate, build=build_activate)],
    deadline=timedelta(minutes=10),
    on_end=onboarded,
)


@hub.command
async def onboard(ctx: Context, data: Key) -> str:
    """Start the onboarding saga."""
    return await ctx.start_saga(onboarding, Onboarding(ref=data.id))
