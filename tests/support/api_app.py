"""A small domain for the API tests: accounts opened, credited and debited over HTTP, listed by page.

Every kind of route the API layer generates is here: a create command, update commands that load by the
path's ``{id}`` (so If-Match applies), a get query (ETag), a list query over ``ctx.list`` with a filter
and a cursor, scopes on most of them, a command refused by a business rule and a slow command for the
request timeout.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from interlink import Aggregate, Context, Domain, Indexed, PublicEvent
from interlink.core.pagination import Page
from interlink.exceptions import BusinessRuleError

accounts = Domain("account", description="Accounts of the API tests")

AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Amount = Annotated[int, Field(gt=0, le=1_000_000_000)]
Currency = Literal["EUR", "USD"]
PageSize = Annotated[int, Field(ge=1, le=1000)]

READ = "accounts:read"
WRITE = "accounts:write"
ADMIN = "accounts:admin"


@accounts.aggregate
class Account(Aggregate):
    """An account; the balance is in cents."""

    holder: Annotated[str, Indexed()]
    currency: Annotated[Currency, Indexed()]
    balance: int = 0


@accounts.aggregate
class Audit(Aggregate):
    """The trace a (slow) audit run leaves."""

    seconds: float


@accounts.event
class AccountOpened(PublicEvent):
    """A new account exists."""

    account_id: str
    holder: str
    currency: Currency


@accounts.event
class BalanceChanged(PublicEvent):
    """Money went in or out."""

    account_id: str
    amount: int
    balance: int


class OpenAccount(BaseModel):
    """Input of open_account."""

    model_config = ConfigDict(extra="forbid")

    id: AccountId
    holder: str = Field(min_length=1, max_length=100)
    currency: Currency
    balance: int = Field(default=0, ge=0, le=1_000_000_000)


class Deposit(BaseModel):
    """Input of deposit; the id comes from the path."""

    model_config = ConfigDict(extra="forbid")

    id: AccountId
    amount: Amount


class Withdraw(BaseModel):
    """Input of withdraw; the id comes from the path."""

    model_config = ConfigDict(extra="forbid")

    id: AccountId
    amount: Amount


class RunAudit(BaseModel):
    """Input of run_audit: how long it takes (at most half a second, so a fuzzer's run stays short)."""

    model_config = ConfigDict(extra="forbid")

    id: AccountId
    seconds: float = Field(ge=0, le=0.5)


@accounts.command(http="POST /accounts", scopes=[WRITE])
async def open_account(ctx: Context, data: OpenAccount) -> Account:
    """Open an account (a second open of the same id is a version conflict)."""
    account = Account(id=data.id, holder=data.holder, currency=data.currency, balance=data.balance)
    await ctx.save(account)
    ctx.emit(AccountOpened(account_id=account.id, holder=account.holder, currency=account.currency), about=account)
    return account


@accounts.command(http="POST /accounts/{id}/deposit", scopes=[WRITE])
async def deposit(ctx: Context, data: Deposit) -> Account:
    """Put money on an account."""
    account = await ctx.get(Account, data.id)
    account.balance += data.amount
    await ctx.save(account)
    ctx.emit(BalanceChanged(account_id=account.id, amount=data.amount, balance=account.balance), about=account)
    return account


@accounts.command(http="POST /accounts/{id}/withdraw", scopes=[WRITE])
async def withdraw(ctx: Context, data: Withdraw) -> Account:
    """Take money from an account; refused when the balance does not cover it."""
    account = await ctx.get(Account, data.id)
    if account.balance < data.amount:
        raise BusinessRuleError(f"insufficient funds: balance {account.balance}, asked {data.amount}")
    account.balance -= data.amount
    await ctx.save(account)
    ctx.emit(BalanceChanged(account_id=account.id, amount=-data.amount, balance=account.balance), about=account)
    return account


@accounts.command(http="POST /audits", scopes=[ADMIN])
async def run_audit(ctx: Context, data: RunAudit) -> Audit:
    """Run an audit that takes a while (the request timeout tests use it), then record it."""
    await asyncio.sleep(data.seconds)
    audit = Audit(id=data.id, seconds=data.seconds)
    await ctx.save(audit)
    return audit


@accounts.query(http="GET /accounts/{id}", scopes=[READ])
async def get_account(ctx: Context, id: str) -> Account:
    """One account by id."""
    return await ctx.get(Account, id)


@accounts.query(http="GET /accounts", scopes=[READ])
async def list_accounts(
    ctx: Context,
    holder: str | None = None,
    currency: Currency | None = None,
    cursor: str | None = None,
    limit: PageSize = 50,
) -> Page[Account]:
    """A page of accounts in id order, optionally of one holder or currency."""
    return await ctx.list(Account, where={"holder": holder, "currency": currency}, cursor=cursor, limit=limit)
