"""A small landscape putting every kind of message on the wire: ``bureau`` keeps accounts and publishes
their state (fat events), a thin notification and a public event, and runs ``Freeze`` command events;
``desk`` keeps a replica of the accounts, handles the notification, and, for each opened account, sends
``Freeze`` to ``bureau`` and records the reply (confirmed, or failed when bureau refuses it)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from interlink import Aggregate, Command, CommandRejected, Context, Domain, PublicEvent, Reply
from interlink.core.messages import NotificationEvent
from interlink.patterns.state_transfer.declarations import Replica, StateTransferEvent

bureau = Domain("bureau")
desk = Domain("desk")


@bureau.aggregate
class Account(Aggregate):
    """An account."""

    holder: str
    balance: Decimal
    frozen: bool = False


@bureau.event
class AccountChanged(StateTransferEvent):
    """An account with all its data."""

    holder: str
    balance: Decimal
    frozen: bool


@bureau.event
class AccountTouched(NotificationEvent):
    """An account changed: fetch it back for the details."""


@bureau.event
class AccountOpened(PublicEvent):
    """An account was opened."""

    account_id: str
    refuse_freeze: bool


class Opening(BaseModel):
    """Input of open_account."""

    id: str
    holder: str
    balance: Decimal
    refuse_freeze: bool = False


@bureau.command
async def open_account(ctx: Context, data: Opening) -> None:
    """Open an account and tell everyone, three ways."""
    account = Account(id=data.id, holder=data.holder, balance=data.balance)
    await ctx.save(account)
    ctx.emit(AccountChanged.of(account), about=account)
    ctx.emit(AccountTouched.of(account, path=f"/accounts/{account.id}"), about=account)
    ctx.emit(AccountOpened(account_id=account.id, refuse_freeze=data.refuse_freeze), about=account)


@bureau.command_message
class Freeze(Command):
    """Freeze an account; ``refuse`` makes bureau reject it for a business reason."""

    account_id: str
    refuse: bool = False


class Frozen(BaseModel):
    """Confirmation of Freeze."""

    account_id: str


@bureau.handles(Freeze)
async def freeze(ctx: Context, command: Freeze) -> Frozen:
    """Freeze the account, or refuse."""
    if command.refuse:
        raise CommandRejected(f"account {command.account_id} cannot be frozen")
    account = await ctx.get(Account, command.account_id)
    account.frozen = True
    await ctx.save(account)
    ctx.emit(AccountChanged.of(account), about=account)
    return Frozen(account_id=account.id)


class AccountView(Replica):
    """What desk keeps of an account."""

    holder: str
    frozen: bool


desk.replica(AccountChanged, model=AccountView)


@desk.aggregate
class Note(Aggregate):
    """What desk heard about one account: notifications, and the reply to its Freeze."""

    touched: int = 0
    outcome: str = ""


class Touch(BaseModel):
    """Input of note_touch."""

    id: str


@desk.command
async def note_touch(ctx: Context, data: Touch) -> None:
    """Count a notification."""
    note = await ctx.find(Note, data.id) or Note(id=data.id)
    note.touched += 1
    await ctx.save(note)


@desk.on(AccountTouched)
async def touched(ctx: Context, event: AccountTouched) -> None:
    """A thin notification arrived."""
    await ctx.execute(note_touch, Touch(id=event.id))


class Ask(BaseModel):
    """Input of ask_freeze."""

    account_id: str
    refuse: bool


@desk.command
async def ask_freeze(ctx: Context, data: Ask) -> None:
    """Send Freeze to bureau."""
    ctx.send(Freeze(account_id=data.account_id, refuse=data.refuse), to="bureau")


@desk.on(AccountOpened)
async def opened(ctx: Context, event: AccountOpened) -> None:
    """Every opened account gets a Freeze."""
    await ctx.execute(ask_freeze, Ask(account_id=event.account_id, refuse=event.refuse_freeze))


class Outcome(BaseModel):
    """Input of record_outcome."""

    id: str
    outcome: str


@desk.command
async def record_outcome(ctx: Context, data: Outcome) -> None:
    """Record the reply to a Freeze."""
    note = await ctx.find(Note, data.id) or Note(id=data.id)
    note.outcome = data.outcome
    await ctx.save(note)


@desk.on_reply(Freeze)
async def freeze_replied(ctx: Context, reply: Reply[Freeze, Frozen]) -> None:
    """Record how bureau answered."""
    await ctx.execute(record_outcome, Outcome(id=reply.command.account_id, outcome=reply.outcome.value))
