"""The core: what a domain may declare, and what each role of the context may do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import pytest
from pydantic import BaseModel

from interlink import Context, Domain
from interlink.core import Aggregate, Command, Event, PrivateEvent, PublicEvent, Role, Session
from interlink.exceptions import ConfigurationError, NotFoundError, RuleViolation

A = TypeVar("A", bound=Aggregate)


class FixedClock:
    """A clock that always tells the same time."""

    def now(self) -> datetime:
        return datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeSession:
    """Records what a context stages, and serves aggregates from a dict."""

    def __init__(self, *aggregates: Aggregate) -> None:
        self.aggregates = {(type(a).aggregate_name(), a.id): a for a in aggregates}
        self.saved: list[Aggregate] = []
        self.deleted: list[Aggregate] = []
        self.events: list[tuple[Event, Aggregate | None]] = []
        self.commands: list[tuple[Command, str]] = []

    async def load(self, cls: type[A], id: str) -> A | None:
        found = self.aggregates.get((cls.aggregate_name(), id))
        return found if isinstance(found, cls) else None

    async def count_reads(self, cls: type[Aggregate], n: int) -> None:
        """Reads are not counted here (the runtime counts them for ``interlink advise``)."""

    def stage_save(self, aggregate: Aggregate) -> None:
        self.saved.append(aggregate)

    def stage_delete(self, aggregate: Aggregate) -> None:
        self.deleted.append(aggregate)

    def stage_event(self, event: Event, ctx: Context, about: Aggregate | None) -> None:
        self.events.append((event, about))

    def stage_message(
        self, message: BaseModel, fields: dict[str, object], about: Aggregate | None = None, channel: str | None = None
    ) -> None:
        assert isinstance(message, Command)
        self.commands.append((message, str(fields["targetdomain"])))

    def stage_record(self, kind: str, id: str, data: str | None, version: int, *, due_at: float | None = None) -> None:
        """Outstanding requests are not kept here (no reply handler in these tests)."""

    @property
    def staged(self) -> int:
        return len(self.saved) + len(self.deleted) + len(self.events) + len(self.commands)


# -- a small domain, and a neighbour -----------------------------------------------------------------

accounts = Domain("accounts")
ledger = Domain("ledger")


@accounts.aggregate
class Account(Aggregate):
    owner: str
    balance: int = 0


@accounts.event
class AccountOpened(PublicEvent):
    account_id: str


@accounts.event
class AccountAudited(PrivateEvent):
    account_id: str


@ledger.event
class EntryBooked(PublicEvent):
    account_id: str
    amount: int


@ledger.command_message
class BookEntry(Command):
    account_id: str
    amount: int


class OpenAccount(BaseModel):
    id: str
    owner: str


@accounts.command
async def open_account(ctx: Context, data: OpenAccount) -> Account:
    account = Account(id=data.id, owner=data.owner)
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id=account.id), about=account)
    return account


@accounts.on(AccountAudited)
async def on_audited(ctx: Context, event: AccountAudited) -> None: ...


@accounts.service
async def open_two(ctx: Context, owner: str) -> list[Account]:
    first = await ctx.execute(open_account, {"id": f"{owner}-1", "owner": owner})
    second = await ctx.execute(open_account, {"id": f"{owner}-2", "owner": owner})
    return [first, second]


def context(role: Role, session: FakeSession | None = None, domain: Domain = accounts) -> Context:
    return Context(
        domain,
        cast(Session, session or FakeSession()),  # it fakes only what these tests use
        role,
        name="under_test",
        clock=FixedClock(),
        correlation_id="corr-1",
        causation_id="msg-0",
    )


# -- domain declarations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "Accounts", "1accounts", "-accounts", "my_accounts", "my accounts", "a" * 64, "café"]
)
def test_bad_domain_name_is_refused(name: str) -> None:
    """A domain name that is not lowercase letters, digits and '-' (starting with a letter) is refused."""
    with pytest.raises(ConfigurationError, match=r"domain name .* must be lowercase letters"):
        Domain(name)


@pytest.mark.parametrize("name", ["a", "loan-request", "customer2", "a" * 63])
def test_good_domain_name_is_accepted(name: str) -> None:
    """Lowercase names with digits and dashes, up to 63 characters, are accepted."""
    assert Domain(name).name == name


def test_non_async_command_is_refused() -> None:
    """A command declared with plain 'def' is refused, naming it and asking for 'async def'."""
    domain = Domain("d")

    def close_account(ctx: Context, data: OpenAccount) -> None: ...

    with pytest.raises(ConfigurationError, match=r"command .*close_account must be declared with 'async def'"):
        domain.command(close_account)  # type: ignore[type-var]


@pytest.mark.parametrize("kind", ["query", "service"])
def test_non_async_query_or_service_is_refused(kind: str) -> None:
    """Queries and services must be 'async def' too."""
    domain = Domain("d")

    def get_account(ctx: Context, id: str) -> None: ...

    with pytest.raises(ConfigurationError, match=f"{kind} .*get_account must be declared with 'async def'"):
        getattr(domain, kind)(get_account)


def test_non_async_event_handler_is_refused() -> None:
    """An event handler declared with plain 'def' is refused."""
    domain = Domain("d")

    def on_opened(ctx: Context, event: AccountOpened) -> None: ...

    with pytest.raises(ConfigurationError, match=r"event handler .*on_opened must be declared with 'async def'"):
        domain.on(AccountOpened)(on_opened)  # type: ignore[type-var]


def test_missing_type_hint_is_refused() -> None:
    """A parameter without a type hint is refused, naming the parameter."""
    domain = Domain("d")

    async def get_account(ctx: Context, id) -> None:  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(ConfigurationError, match="parameter 'id' needs a type hint"):
        domain.query(get_account)


def test_missing_command_input_hint_is_refused() -> None:
    """A command whose input parameter has no type hint is refused, naming the parameter."""
    domain = Domain("d")

    async def close_account(ctx: Context, data) -> None:  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(ConfigurationError, match="parameter 'data' needs a type hint"):
        domain.command(close_account)


def test_function_without_context_is_refused() -> None:
    """A declaration must take the context as its first parameter."""
    domain = Domain("d")

    async def everything() -> None: ...

    with pytest.raises(ConfigurationError, match="must take the context as its first parameter"):
        domain.query(everything)


@pytest.mark.parametrize("hint", [dict, int, str, "list[str]"])
def test_command_input_must_be_a_pydantic_model(hint: Any) -> None:
    """A command whose input is not a pydantic model is refused, naming what it got."""
    domain = Domain("d")

    async def close_account(ctx: Context, data: Any) -> None: ...

    close_account.__annotations__["data"] = hint
    with pytest.raises(ConfigurationError, match="its input must be a pydantic model"):
        domain.command(close_account)


def test_command_with_two_inputs_is_refused() -> None:
    """A command takes one input model, not several parameters."""
    domain = Domain("d")

    async def transfer(ctx: Context, source: OpenAccount, target: OpenAccount) -> None: ...

    with pytest.raises(ConfigurationError, match="takes one input model"):
        domain.command(transfer)


def test_command_without_input_is_accepted() -> None:
    """A command may take only the context."""
    domain = Domain("d")

    @domain.command(http="POST /nightly")
    async def nightly(ctx: Context) -> None: ...

    spec = domain.commands["nightly"]
    assert (spec.input_type, spec.http, domain.spec_of(nightly)) == (None, "POST /nightly", spec)


def test_duplicate_command_name_is_refused() -> None:
    """Two commands with one name in a domain are refused, naming it."""
    domain = Domain("d")

    @domain.command
    async def close_account(ctx: Context, data: OpenAccount) -> None: ...

    async def other(ctx: Context, data: OpenAccount) -> None: ...

    with pytest.raises(ConfigurationError, match="domain 'd' already declares 'close_account'"):
        domain.command(name="close_account")(other)


def test_duplicate_query_name_is_refused() -> None:
    """Two queries with one name in a domain are refused."""
    domain = Domain("d")

    @domain.query
    async def get_account(ctx: Context, id: str) -> None: ...

    with pytest.raises(ConfigurationError, match="already declares 'get_account'"):

        @domain.query(name="get_account")
        async def get_account_again(ctx: Context, id: str) -> None: ...


def test_duplicate_service_name_is_refused() -> None:
    """Two services with one name in a domain are refused."""
    domain = Domain("d")

    async def audit(ctx: Context) -> None: ...

    domain.service(audit)
    with pytest.raises(ConfigurationError, match="already declares 'audit'"):
        domain.service(audit)


def test_duplicate_handler_name_is_refused() -> None:
    """Two event handlers with one name in a domain are refused."""
    domain = Domain("d")

    async def on_opened(ctx: Context, event: AccountOpened) -> None: ...

    domain.on(AccountOpened)(on_opened)
    with pytest.raises(ConfigurationError, match="already has a handler named 'on_opened'"):
        domain.on(AccountOpened)(on_opened)


def test_two_events_with_one_name_are_refused() -> None:
    """Two different event classes with one wire name in a domain are refused: their types would clash."""
    domain = Domain("d")

    class Changed(PublicEvent):
        a: int

    domain.event(Changed)

    class Other(PublicEvent):
        __message_name__ = "Changed"
        b: str

    with pytest.raises(ConfigurationError, match="Changed"):
        domain.event(Other)


def test_two_aggregates_with_one_name_are_refused() -> None:
    """Two different aggregate classes filed under one name in a domain are refused: they would share rows."""
    domain = Domain("d")

    class Card(Aggregate):
        number: str

    domain.aggregate(Card)

    class OtherCard(Aggregate):
        __aggregate_name__ = "Card"
        limit: int

    with pytest.raises(ConfigurationError, match="Card"):
        domain.aggregate(OtherCard)


def test_event_declared_by_two_domains_is_refused() -> None:
    """An event belongs to one domain; a second domain declaring it is refused, naming the owner."""
    with pytest.raises(ConfigurationError, match="AccountOpened is already declared by domain 'accounts'"):
        ledger.event(AccountOpened)


def test_event_declaration_must_be_an_event() -> None:
    """@domain.event refuses a command, and @domain.command_message refuses an event."""
    domain = Domain("d")

    class Pay(Command):
        amount: int

    class Paid(PublicEvent):
        amount: int

    with pytest.raises(ConfigurationError, match="Pay is not an Event"):
        domain.event(Pay)
    with pytest.raises(ConfigurationError, match="Paid is not a Command"):
        domain.command_message(Paid)


def test_message_type_is_owner_and_name() -> None:
    """A declared message's CloudEvents type is "<owner>.<name>"."""
    assert AccountOpened.message_type() == "accounts.AccountOpened"
    assert BookEntry.message_type() == "ledger.BookEntry"


def test_private_event_of_another_domain_cannot_be_subscribed() -> None:
    """Subscribing to another domain's private event is refused, naming the event and its owner."""
    with pytest.raises(ConfigurationError, match="AccountAudited is private to domain 'accounts'"):
        ledger.on(AccountAudited)


def test_private_event_of_own_domain_can_be_subscribed() -> None:
    """A domain handles its own private events."""
    assert [h.name for h in accounts.handlers_for("accounts.AccountAudited")] == ["on_audited"]
    assert accounts.subscribed_types() == {"accounts.AccountAudited": AccountAudited}


def test_public_event_of_another_domain_can_be_subscribed() -> None:
    """A domain handles another domain's public events."""
    domain = Domain("d")

    @domain.on(EntryBooked)
    async def on_booked(ctx: Context, event: EntryBooked) -> None: ...

    assert [h.name for h in domain.handlers_for("ledger.EntryBooked")] == ["on_booked"]


def test_handler_must_take_the_event() -> None:
    """An event handler must take exactly (ctx, event) with the subscribed event's type."""
    domain = Domain("d")

    async def on_booked(ctx: Context, event: AccountOpened) -> None: ...

    with pytest.raises(ConfigurationError, match=r"must take \(ctx, event: EntryBooked\)"):
        domain.on(EntryBooked)(on_booked)


def test_undeclared_event_cannot_be_subscribed() -> None:
    """Subscribing to an event nobody declared says it belongs to no domain and how to declare it."""

    class Stray(PublicEvent):
        x: int

    with pytest.raises(ConfigurationError, match=r"Stray belongs to no domain: declare it with @<domain>\.event"):
        accounts.on(Stray)


def test_undeclared_event_has_no_type() -> None:
    """An event nobody declared has no CloudEvents type; asking for one says how to declare it."""

    class Stray(PublicEvent):
        x: int

    with pytest.raises(ConfigurationError, match=r"declare it with @<domain>\.event"):
        Stray.message_type()


# -- context role rules ------------------------------------------------------------------------------

NOT_COMMANDS = [Role.QUERY, Role.SERVICE, Role.HANDLER]


@pytest.mark.parametrize("role", NOT_COMMANDS, ids=lambda r: r.name.lower())
async def test_only_commands_save(role: Role) -> None:
    """ctx.save() outside a command raises RuleViolation naming the role and the rule, and stages nothing."""
    session = FakeSession()
    with pytest.raises(RuleViolation, match=rf"{role.value} 'under_test' called ctx.save\(\): .* do not persist"):
        await context(role, session).save(Account(id="a-1", owner="ann"))
    assert session.staged == 0


@pytest.mark.parametrize("role", NOT_COMMANDS, ids=lambda r: r.name.lower())
async def test_only_commands_delete(role: Role) -> None:
    """ctx.delete() outside a command raises RuleViolation."""
    session = FakeSession()
    with pytest.raises(RuleViolation, match=r"called ctx.delete\(\)"):
        await context(role, session).delete(Account(id="a-1", owner="ann", version=1))
    assert session.staged == 0


@pytest.mark.parametrize("role", NOT_COMMANDS, ids=lambda r: r.name.lower())
def test_only_commands_emit(role: Role) -> None:
    """ctx.emit() outside a command raises RuleViolation naming the rule."""
    session = FakeSession()
    with pytest.raises(
        RuleViolation, match=rf"{role.value} 'under_test' called ctx.emit\(\): .* do not persist or emit"
    ):
        context(role, session).emit(AccountOpened(account_id="a-1"))
    assert session.staged == 0


@pytest.mark.parametrize("role", NOT_COMMANDS, ids=lambda r: r.name.lower())
def test_only_commands_send(role: Role) -> None:
    """ctx.send() outside a command raises RuleViolation naming the rule."""
    session = FakeSession()
    with pytest.raises(RuleViolation, match=rf"{role.value} 'under_test' called ctx.send\(\)"):
        context(role, session).send(BookEntry(account_id="a-1", amount=5), to="ledger")
    assert session.staged == 0


def test_query_rule_says_to_use_a_command() -> None:
    """The query rule's message says to move the change into a command."""
    with pytest.raises(RuleViolation, match="queries do not persist or emit; move the change into a command"):
        context(Role.QUERY).emit(AccountOpened(account_id="a-1"))


def test_handler_rule_says_to_run_a_command() -> None:
    """The event handler rule's message says to run a command that does it."""
    with pytest.raises(RuleViolation, match=r"event handlers do not persist or emit; run a command \(ctx.execute\)"):
        context(Role.HANDLER).send(BookEntry(account_id="a-1", amount=5), to="ledger")


async def test_query_cannot_run_a_command() -> None:
    """A query running a command raises RuleViolation, and nothing is staged."""
    session = FakeSession()
    with pytest.raises(RuleViolation, match="query 'under_test' tried to run a command"):
        await context(Role.QUERY, session).execute(open_account, {"id": "a-1", "owner": "ann"})
    assert session.staged == 0


async def test_query_reads() -> None:
    """A query gets and finds aggregates; get of a missing one raises NotFoundError."""
    ann = Account(id="a-1", owner="ann", version=3)
    ctx = context(Role.QUERY, FakeSession(ann))
    assert await ctx.get(Account, "a-1") is ann
    assert await ctx.find(Account, "a-2") is None
    with pytest.raises(NotFoundError, match="Account 'a-2' not found"):
        await ctx.get(Account, "a-2")


async def test_command_saves_deletes_emits_and_sends() -> None:
    """A command context stages saves, deletes, its domain's events and command events."""
    session = FakeSession()
    ctx = context(Role.COMMAND, session)
    ann = Account(id="a-1", owner="ann")
    await ctx.save(ann)
    await ctx.delete(ann)
    ctx.emit(AccountOpened(account_id="a-1"), about=ann)
    ctx.send(BookEntry(account_id="a-1", amount=5), to="ledger")
    assert (session.saved, session.deleted) == ([ann], [ann])
    assert session.events == [(AccountOpened(account_id="a-1"), ann)]
    assert session.commands == [(BookEntry(account_id="a-1", amount=5), "ledger")]


def test_command_emits_only_its_own_domains_events() -> None:
    """A command emitting another domain's event raises RuleViolation naming both domains."""
    session = FakeSession()
    with pytest.raises(RuleViolation, match="EntryBooked is declared by domain 'ledger'; domain 'accounts' emits only"):
        context(Role.COMMAND, session).emit(EntryBooked(account_id="a-1", amount=5))
    assert session.events == []


def test_command_cannot_emit_an_undeclared_event() -> None:
    """Emitting an event nobody declared raises ConfigurationError telling to declare it."""

    class Stray(PublicEvent):
        x: int

    session = FakeSession()
    with pytest.raises(ConfigurationError, match=r"declare it with @<domain>\.event"):
        context(Role.COMMAND, session).emit(Stray(x=1))
    assert session.events == []


@pytest.mark.parametrize("role", [Role.SERVICE, Role.HANDLER], ids=["service", "handler"])
async def test_services_and_handlers_run_commands(role: Role) -> None:
    """A service or an event handler persists by running a command, which may save and emit."""
    session = FakeSession()
    account = await context(role, session).execute(open_account, {"id": "a-1", "owner": "ann"})
    assert session.saved == [account]
    assert session.events == [(AccountOpened(account_id="a-1"), account)]


async def test_called_service_runs_commands_but_cannot_save() -> None:
    """ctx.call() gives the service a service context: its commands persist, its own save is refused."""
    session = FakeSession()
    accounts_opened = await context(Role.COMMAND, session).call(open_two, "bob")
    assert [a.id for a in accounts_opened] == ["bob-1", "bob-2"]
    assert [a.id for a in session.saved] == ["bob-1", "bob-2"]

    domain = Domain("d")

    @domain.service
    async def sneaky(ctx: Context) -> None:
        await ctx.save(Account(id="x", owner="x"))

    with pytest.raises(RuleViolation, match=r"service 'sneaky' called ctx.save\(\): services do not persist"):
        await context(Role.COMMAND, FakeSession(), domain).call(sneaky)


async def test_execute_refuses_what_is_not_a_command() -> None:
    """ctx.execute() of a function that is not a command of the domain raises RuleViolation."""

    async def not_declared(ctx: Context) -> None: ...

    with pytest.raises(RuleViolation, match="is not a command of"):
        await context(Role.COMMAND).execute(not_declared)
    with pytest.raises(RuleViolation, match="is not a service of"):
        await context(Role.COMMAND).call(not_declared)


async def test_child_context_keeps_correlation() -> None:
    """A command run from a handler keeps the correlation and causation ids."""
    seen: list[tuple[str, str | None, Role]] = []
    domain = Domain("d")

    @domain.command
    async def record(ctx: Context) -> None:
        seen.append((ctx.correlation_id, ctx.causation_id, ctx.role))

    await context(Role.HANDLER, domain=domain).execute(record)
    assert seen == [("corr-1", "msg-0", Role.COMMAND)]
