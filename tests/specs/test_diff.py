"""`spec diff`: each kind of breaking change is caught (exit 1), compatible changes pass (exit 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, create_model
from typer.testing import CliRunner

from interlink import Context, Domain, PublicEvent
from interlink.cli.main import app
from interlink.core.messages import Command
from interlink.specs.bundle import write_bundle

runner = CliRunner()

ORDER_PLACED: dict[str, Any] = {"order_id": (str, ...), "amount": (int, ...), "note": (str | None, None)}
PLACE_ORDER: dict[str, Any] = {"order_id": (str, ...), "amount": (int, ...)}


def shop(
    placed: dict[str, Any] = ORDER_PLACED,
    place: dict[str, Any] = PLACE_ORDER,
    *,
    cancelled: bool = True,
    commands: bool = True,
    query: bool = True,
    version: str = "1.0.0",
    order_param: str = "id",
) -> Domain:
    """One version of a shop domain: an event or two, a command event, an HTTP command and query, a file."""
    domain = Domain("shop", version=version)
    domain.event(create_model("OrderPlaced", __base__=PublicEvent, **placed))
    if cancelled:
        domain.event(create_model("OrderCancelled", __base__=PublicEvent, order_id=(str, ...)))
    if commands:
        domain.command_message(create_model("ShipOrder", __base__=Command, order_id=(str, ...)))
    model = create_model("PlaceOrder", __base__=BaseModel, **place)

    async def place_order(ctx: Context, data: BaseModel) -> None:
        """Place an order."""

    place_order.__annotations__ = {"ctx": Context, "data": model, "return": None}  # the version's own input

    async def get_order(ctx: Context, id: str) -> None:
        """One order."""

    async def get_order_by_number(ctx: Context, order_id: str) -> None:
        """One order."""

    domain.command(http="POST /orders")(place_order)
    if query:
        query_by = get_order if order_param == "id" else get_order_by_number
        domain.query(http=f"GET /orders/{{{order_param}}}")(query_by)
    domain.inbound_file("orders", directory="in", pattern="orders-*.csv", command=place_order)
    return domain


def diff(tmp_path: Path, old: Domain, new: Domain) -> tuple[int, str]:
    """Bundle both versions and run `interlink spec diff` on the folders."""
    write_bundle([old], tmp_path / "old")
    write_bundle([new], tmp_path / "new")
    result = runner.invoke(app, ["spec", "diff", str(tmp_path / "old"), str(tmp_path / "new")])
    return result.exit_code, result.output


BREAKING = {
    "removed field": (
        {"placed": {k: v for k, v in ORDER_PLACED.items() if k != "amount"}},
        "breaking: shop/asyncapi.json message shop.OrderPlaced: field 'amount' removed",
    ),
    "renamed field": (
        {"placed": {"order_id": (str, ...), "total": (int, ...), "note": (str | None, None)}},
        "breaking: shop/asyncapi.json message shop.OrderPlaced: field 'amount' renamed to 'total'",
    ),
    "changed type": (
        {"placed": {**ORDER_PLACED, "amount": (str, ...)}},
        "breaking: shop/asyncapi.json message shop.OrderPlaced: type of field 'amount' changed from integer to string",
    ),
    "new required field": (
        {"place": {**PLACE_ORDER, "currency": (str, ...)}},
        "breaking: shop/openapi.json POST /orders request: new required field 'currency'",
    ),
    "new required field in a file layout": (
        {"place": {**PLACE_ORDER, "currency": (str, ...)}},
        "breaking: shop/files.json layout orders: new required field 'currency'",
    ),
    "field became required": (
        {"placed": {**ORDER_PLACED, "note": (str | None, ...)}},
        "breaking: shop/asyncapi.json message shop.OrderPlaced: field 'note' became required",
    ),
    "removed channel": ({"commands": False}, "breaking: shop/asyncapi.json: channel shop.commands removed"),
    "removed message": ({"cancelled": False}, "breaking: shop/asyncapi.json: message shop.OrderCancelled removed"),
    "removed operation": (
        {"cancelled": False},
        "breaking: shop/asyncapi.json: operation shop_emit_order_cancelled removed",
    ),
    "removed path": ({"query": False}, "breaking: shop/openapi.json: operation GET /orders/{id} removed"),
}


@pytest.mark.parametrize(("change", "expected"), BREAKING.values(), ids=BREAKING.keys())
def test_each_kind_of_breaking_change_is_caught(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    """The breaking change is named, and the exit code is 1."""
    code, output = diff(tmp_path, shop(), shop(**change))
    assert code == 1, output
    assert expected in output.splitlines()


def test_compatible_changes_pass(tmp_path: Path) -> None:
    """An added optional field, an added channel, message and path are listed as compatible: exit code 0."""
    old = shop(cancelled=False, commands=False, query=False)
    new = shop({**ORDER_PLACED, "coupon": (str | None, None)}, {**PLACE_ORDER, "gift": (bool, False)})
    code, output = diff(tmp_path, old, new)
    assert code == 0, output
    lines = output.splitlines()
    assert "compatible: shop/asyncapi.json message shop.OrderPlaced: optional field 'coupon' added" in lines
    assert "compatible: shop/openapi.json POST /orders request: optional field 'gift' added" in lines
    assert "compatible: shop/asyncapi.json: channel shop.commands added" in lines
    assert "compatible: shop/asyncapi.json: message shop.OrderCancelled added" in lines
    assert "compatible: shop/openapi.json: operation GET /orders/{id} added" in lines
    assert lines[-1].startswith("0 breaking change(s)")


def test_unchanged_specifications_have_no_change(tmp_path: Path) -> None:
    """The same declarations bundled twice differ in nothing."""
    assert diff(tmp_path, shop(), shop()) == (0, "0 breaking change(s), 0 compatible change(s)\n")


def test_a_removed_domain_is_breaking_and_single_documents_compare_too(tmp_path: Path) -> None:
    """A document missing from the new bundle is breaking; two single YAML documents are compared as well."""
    write_bundle([shop()], tmp_path / "old")
    (tmp_path / "new").mkdir()
    result = runner.invoke(app, ["spec", "diff", str(tmp_path / "old"), str(tmp_path / "new")])
    assert result.exit_code == 1
    assert "breaking: shop/asyncapi.json: document removed" in result.output
    write_bundle([shop(cancelled=False)], tmp_path / "new")
    single = runner.invoke(
        app, ["spec", "diff", str(tmp_path / "old/shop/asyncapi.yaml"), str(tmp_path / "new/shop/asyncapi.yaml")]
    )
    assert single.exit_code == 1
    assert "breaking: asyncapi.yaml: message shop.OrderCancelled removed" in single.output


def test_diff_of_missing_paths_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    """Comparing a folder with a file says so in one line (exit 2)."""
    (tmp_path / "a.json").write_text("{}")
    result = runner.invoke(app, ["spec", "diff", str(tmp_path), str(tmp_path / "a.json")])
    assert result.exit_code == 2
    assert "not both of one kind" in result.output


def test_a_confirmation_field_no_longer_required_breaks_the_issuers_reading_the_reply(tmp_path: Path) -> None:
    """The target writes the replies to its command events and the issuers read them: a confirmation field that
    is no longer required is breaking for them."""

    def messaging(sent: dict[str, Any]) -> Domain:
        domain = Domain("messaging")
        command = domain.command_message(create_model("SendSms", __base__=Command, text=(str, ...)))
        confirmation = create_model("SmsSent", __base__=BaseModel, **sent)

        async def send_sms(ctx: Context, command: BaseModel) -> BaseModel:
            """Send it."""
            return confirmation(message_id="m-1")

        send_sms.__annotations__ = {"ctx": Context, "command": command, "return": confirmation}
        domain.handles(command)(send_sms)
        return domain

    code, output = diff(tmp_path, messaging({"message_id": (str, ...)}), messaging({"message_id": (str | None, None)}))
    assert code == 1, output
    assert (
        "breaking: messaging/asyncapi.json message messaging.SendSms.Reply: "
        "field 'confirmation.message_id' is no longer required"
    ) in output.splitlines()


def test_a_renamed_path_parameter_is_compatible(tmp_path: Path) -> None:
    """`GET /orders/{id}` becoming `GET /orders/{order_id}` breaks no client (it fills the path by position):
    one compatible change naming the new path, exit code 0."""
    code, output = diff(tmp_path, shop(), shop(order_param="order_id"))
    assert code == 0, output
    assert output.splitlines() == [
        "compatible: shop/openapi.json GET /orders/{id}: path parameter(s) renamed: now GET /orders/{order_id}",
        "0 breaking change(s), 1 compatible change(s)",
    ]


def test_the_documents_carry_the_domains_version_and_diff_says_when_a_new_major_is_needed(tmp_path: Path) -> None:
    """The version a domain declares is the documents' version; a breaking change under the same major
    version is reported as needing the next major one, and a new major version says it is one."""
    old, broken = shop(version="1.4.0"), shop(cancelled=False, version="1.5.0")
    code, output = diff(tmp_path / "minor", old, broken)
    assert code == 1, output
    assert (
        "breaking: shop/asyncapi.json: version 1.4.0 -> 1.5.0: 2 breaking change(s) need a new major version (2.0.0)"
        in output.splitlines()
    )
    code, output = diff(tmp_path / "major", old, shop(cancelled=False, version="2.0.0"))
    lines = output.splitlines()
    assert (
        "compatible: shop/asyncapi.json: version 1.4.0 -> 2.0.0: a new major version, as its breaking changes need"
        in (lines)
    )
    assert not any("need a new major version" in line for line in lines), output
    assert (tmp_path / "major" / "new" / "shop" / "openapi.json").read_text().count('"version": "2.0.0"') == 1
