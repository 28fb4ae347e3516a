"""The landscape diagram: every domain a box, every integration an arrow named by its pattern."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from interlink.cli.loading import load_domains
from interlink.cli.main import app
from interlink.specs import collect
from interlink.specs.diagram import html_page, svg
from interlink.specs.landscape import Landscape, build_landscape, mermaid
from interlink.specs.model import COMMAND_EVENT, DomainSpec, MessageSpec, Operation, Reply

runner = CliRunner()

APP = "tests.specs.landscape_app"
APP_EDGES = {
    ("files:registry:branch-customers", "registry", "inbound-file", False),
    ("registry", "lending", "state-change-notification", False),
    ("lending", "registry", "api-exposure", False),
    ("lending", "ledger", "event-carried-state-transfer", False),
    ("files:ledger:repayments", "ledger", "inbound-file", False),
    ("lending", "messaging", "command-event", False),
    ("messaging", "lending", "command-event", True),
    ("lending", "ledger", "command-event", False),
    ("ledger", "lending", "command-event", True),
    ("lending", "messaging", "event", False),
}


def app_landscape() -> Landscape:
    """The landscape of the test app's four domains."""
    return build_landscape([collect(d) for d in load_domains(APP)])


class SendSms(BaseModel):
    """A command event's data."""

    text: str


class SmsSent(BaseModel):
    """Its confirmation's data."""

    sent: bool


def commanding_landscape() -> Landscape:
    """Two domains where one sends a command event to the other and gets a reply (as declared in the model)."""
    sms = MessageSpec("texts.SendSms", SendSms, COMMAND_EVENT, command=True)
    sent = MessageSpec("texts.SmsSent", SmsSent, COMMAND_EVENT)
    loans = DomainSpec("loans", "Loans")
    loans.operations.append(
        Operation(
            "sendSendSms",
            "send",
            "texts.commands",
            (sms,),
            COMMAND_EVENT,
            peer="texts",
            reply=Reply("loans.replies", (sent,)),
        )
    )
    return build_landscape([loans, DomainSpec("texts", "Text messages")])


def edges(landscape: Landscape) -> set[tuple[str, str, str, bool]]:
    """Every arrow as (from, to, pattern, is a reply)."""
    return {(e.source, e.target, e.pattern, e.reply) for e in landscape.edges}


def test_every_declared_integration_is_an_arrow_with_its_pattern() -> None:
    """Events, API calls and files of the test app become arrows; file sources become boxes of their own."""
    drawn = app_landscape()
    assert edges(drawn) == APP_EDGES
    kinds = {n.id: n.kind for n in drawn.nodes}
    assert [k for k, v in kinds.items() if v == "domain"] == ["registry", "lending", "ledger", "messaging"]
    assert drawn.node("files:ledger:repayments").label == "repayments files"
    notification = next(e for e in drawn.edges if e.pattern == "state-change-notification")
    assert (notification.title, notification.details, notification.dashed) == (
        "notification",
        ["CustomerChanged"],
        True,
    )


def test_a_command_event_is_an_arrow_to_its_target_and_its_reply_one_back() -> None:
    """A command event sent to another domain is drawn to it, and its reply back, both dashed."""
    drawn = commanding_landscape()
    assert edges(drawn) == {("loans", "texts", COMMAND_EVENT, False), ("texts", "loans", COMMAND_EVENT, True)}
    assert [e.title for e in drawn.edges] == ["command event", "command event reply"]
    assert all(e.dashed for e in drawn.edges)


def test_mermaid_has_a_box_per_domain_and_a_labelled_arrow_per_integration() -> None:
    """`interlink landscape MODULE` prints a Mermaid flowchart with every box and labelled arrow."""
    result = runner.invoke(app, ["landscape", APP])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  n_lending("lending"):::domain' in lines
    assert '  n_registry -.->|"notification: CustomerChanged"| n_lending' in lines
    assert '  n_lending -->|"API call: GET /customers/{id}"| n_registry' in lines
    assert '  n_files_ledger_repayments -->|"inbound file: REPAY.*.DAT (fixed)"| n_ledger' in lines
    assert '  n_lending -.->|"state transfer: LoanChanged"| n_ledger' in lines
    assert '  n_lending -.->|"command event: BookLoan, CancelBooking"| n_ledger' in lines
    assert '  n_ledger -.->|"command event reply: BookLoan.Reply, CancelBooking.Reply"| n_lending' in lines
    assert '  n_lending -.->|"event: LoanApproved"| n_messaging' in lines
    assert len([line for line in lines if "->|" in line]) == len(APP_EDGES)
    assert '  n_texts -.->|"command event reply: SmsSent"| n_loans' in mermaid(commanding_landscape())


def test_svg_is_well_formed_with_a_group_per_box_and_arrow(tmp_path: Path) -> None:
    """`--format svg` writes an SVG document with one group per box and one per arrow, nothing external."""
    out = tmp_path / "landscape.svg"
    result = runner.invoke(app, ["landscape", APP, "--format", "svg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-check")]
    assert {g.get("data-name") for g in groups if g.get("data-kind") == "domain"} == {
        "registry",
        "lending",
        "ledger",
        "messaging",
    }
    assert {
        (g.get("data-source"), g.get("data-target"), g.get("data-pattern"), g.get("data-reply") == "true")
        for g in groups
        if g.get("data-check") == "integration"
    } == APP_EDGES
    assert "http" not in out.read_text().replace("http://www.w3.org/2000/svg", "")


class _Drawn(HTMLParser):
    """The boxes and arrows of a page's DOM, with where the browser drew them."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, str | None]] = []
        self.size: tuple[float, float] = (0, 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg" and found.get("viewbox"):
            *_, w, h = map(float, str(found["viewbox"]).split())
            self.size = (w, h)
        if tag == "g" and found.get("data-check"):
            self.items.append(found)


def on_page(dom: str) -> tuple[set[str], set[tuple[str, str, str, bool]]]:
    """The domains and the arrows the browser drew inside the picture, each with a size."""
    parsed = _Drawn()
    parsed.feed(dom)
    width, height = parsed.size
    for item in parsed.items:
        x, y, w, h = map(float, str(item["data-box"]).split())
        assert w > 0, item
        assert h > 0, item
        assert 0 <= x <= x + w <= width, item
        assert 0 <= y <= y + h <= height, item
    domains = {str(i["data-name"]) for i in parsed.items if i.get("data-kind") == "domain"}
    arrows = {
        (str(i["data-source"]), str(i["data-target"]), str(i["data-pattern"]), i["data-reply"] == "true")
        for i in parsed.items
        if i["data-check"] == "integration"
    }
    return domains, arrows


def test_the_html_page_shows_every_domain_and_integration_in_chromium(
    tmp_path: Path, chromium: Callable[[Path], str]
) -> None:
    """Headless Chromium renders the page: every domain and every arrow is drawn, with a size, in the picture."""
    page = tmp_path / "landscape.html"
    result = runner.invoke(app, ["landscape", APP, "--format", "html", "--out", str(page)])
    assert result.exit_code == 0, result.output
    dom = chromium(page)
    domains, arrows = on_page(dom)
    assert domains == {"registry", "lending", "ledger", "messaging"}
    assert arrows == APP_EDGES
    assert "a plain subscription" in dom  # the legend says what an arrow named `event` is
    commanding = tmp_path / "commanding.html"
    commanding.write_text(html_page(commanding_landscape()))
    assert on_page(chromium(commanding)) == ({"loans", "texts"}, edges(commanding_landscape()))


def test_the_bank_landscape_shows_its_domains_in_chromium(tmp_path: Path, chromium: Callable[[Path], str]) -> None:
    """The reference bank's page shows each of its domains and integrations."""
    drawn = build_landscape([collect(d) for d in load_domains("examples.bank")])
    page = tmp_path / "bank.html"
    page.write_text(html_page(drawn, "bank"))
    domains, arrows = on_page(chromium(page))
    assert domains == {n.id for n in drawn.nodes if n.kind == "domain"} >= {"customer", "loan-request"}
    assert arrows == edges(drawn)
    assert svg(drawn).count('class="integration"') == len(drawn.edges)


def test_command_events_and_state_transfer_are_drawn_in_chromium(
    tmp_path: Path, chromium: Callable[[Path], str]
) -> None:
    """The command-event and state-transfer test apps: arrows to each target with the dashed reply back, and the
    fat event's arrow to the replica, whose rebuild source is the producer's API."""
    drawn = build_landscape(
        [
            collect(d)
            for module in ("tests.support.command_events_app", "tests.support.ecst_app")
            for d in load_domains(module)
        ]
    )
    expected = {
        ("lending", "partner", "command-event", False),
        ("partner", "lending", "command-event", True),
        ("lending", "silent", "command-event", False),
        ("silent", "lending", "command-event", True),
        ("loan-request", "credit", "event-carried-state-transfer", False),
        ("credit", "loan-request", "api-exposure", False),
    }
    assert edges(drawn) == expected
    sent = next(e for e in drawn.edges if (e.source, e.target, e.reply) == ("lending", "partner", False))
    assert sent.details[:2] == ["SendSms", "ReserveCredit"]
    assert all(e.dashed for e in drawn.edges if e.pattern != "api-exposure")
    page = tmp_path / "patterns.html"
    page.write_text(html_page(drawn, "command events and state transfer"))
    assert on_page(chromium(page)) == ({"lending", "partner", "silent", "loan-request", "credit"}, expected)


def test_the_bank_landscape_labels_are_readable_and_fit() -> None:
    """Names of at least 15 px fit their boxes ("customer-communication" too), arrow labels of at least 11 px
    meet no box, and every label is drawn after every arrow, so no arrow runs over one."""
    from interlink.specs.collect import collect
    from interlink.specs.diagram import NAME, TITLE, box_size, svg, text_width
    from interlink.specs.landscape import build_landscape

    drawn = build_landscape([collect(d) for d in load_domains("examples.bank")])
    picture = svg(drawn, "The bank")
    root = ET.fromstring(picture)
    ns = "{http://www.w3.org/2000/svg}"
    boxes = {}
    for group in root.iter(f"{ns}g"):
        if group.get("data-check") == "node":
            rect = group.find(f"{ns}rect") if group.get("data-kind") != "files" else None
            name = group.find(f"{ns}text")
            assert name is not None
            assert float(name.get("font-size", 0)) >= NAME
            if rect is not None:
                box = tuple(float(rect.get(k, 0)) for k in ("x", "y", "width", "height"))
                boxes[group.get("data-name")] = box
                assert text_width(str(name.text), NAME, bold=True) + 40 <= box[2], name.text
    node = next(n for n in drawn.nodes if n.id == "customer-communication")
    assert box_size(node)[0] >= text_width("customer-communication", NAME, bold=True) + 40
    labels = [g for g in root.iter(f"{ns}g") if g.get("class") == "integration-label"]
    assert len(labels) == len([g for g in root.iter(f"{ns}g") if g.get("data-check") == "integration"])
    for label in labels:
        rect, title = label.find(f"{ns}rect"), label.find(f"{ns}text")
        assert rect is not None
        assert title is not None
        assert float(title.get("font-size", 0)) >= TITLE
        x, y, w, h = (float(rect.get(k, 0)) for k in ("x", "y", "width", "height"))
        for bx, by, bw, bh in boxes.values():
            assert not (x < bx + bw and bx < x + w and y < by + bh and by < y + h), (label.get("data-source"), rect)
    order = [g.get("class") for g in root if g.tag == f"{ns}g"]
    assert max(i for i, c in enumerate(order) if c == "integration") < min(
        i for i, c in enumerate(order) if c == "integration-label"
    )
