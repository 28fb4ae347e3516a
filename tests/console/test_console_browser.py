"""The console in headless Chromium (Playwright, Debian's chromium), served beside a running runtime's APIs.

Set ``INTERLINK_SCREENSHOTS=docs/console`` to write the screenshots of the main views used by docs/console.md.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright import async_api as playwright_api

from interlink.console import OPERATE, PAYLOADS, READ, ConsoleSettings
from interlink.console.hosting import console_extension
from interlink.operations import Operations
from interlink.patterns.api_exposure import ApiSettings
from interlink.patterns.api_exposure.security import ApiKeyAuthenticator, Principal
from interlink.patterns.command_events import load_saga
from interlink.patterns.command_events.sagas import SagaStatus
from interlink.runtime import Runtime, Settings
from interlink.runtime.http import api_for
from interlink.testing.waiting import wait_until
from tests.support.command_events_app import StartOrigination, lending, originate, partner
from tests.support.operations_app import Balance, ledger, park_posting
from tests.support.services import fresh_name
from tests.support.uvicorn_server import LiveServer

_WANTED = os.environ.get("INTERLINK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM = _WANTED if os.path.exists(_WANTED) else shutil.which("chromium")
SHOTS = Path(os.environ["INTERLINK_SCREENSHOTS"]) if os.environ.get("INTERLINK_SCREENSHOTS") else None
if SHOTS is not None:
    SHOTS.mkdir(parents=True, exist_ok=True)
KEYS = {
    "operator-key": Principal("olga", frozenset({READ, OPERATE, PAYLOADS})),
    "viewer-key": Principal("victor", frozenset({READ})),
}


#: The table row and the diagram label of two arrows: the bank's postings into the ledger (the bank runs
#: elsewhere), and lending's commands to its partner (lending runs here, so its rate is counted).
POSTED = 'tr[data-arrow="ops-bank>ledger:event"]'
COMMANDS = 'tr[data-arrow="lending>partner:command-event"]'
COMMANDS_LABEL = (
    "g.integration-label[data-source=lending][data-target=partner][data-pattern=command-event][data-reply=false] "
    "text.figures"
)


def _unavailable(reason: str) -> None:
    """Fail on CI, skip elsewhere (as the landscape's browser tests do)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium, the system's own (no browser download)."""
    if CHROMIUM is None:
        _unavailable("chromium not found: the console is not checked in a browser (apt-get install chromium)")
    path = str(CHROMIUM)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        await browser.close()


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    """Ledger and lending running on memory backends; their partner domain is stopped (not running)."""
    name = fresh_name("console")
    settings = Settings(store_url=f"memory://{name}", broker_url=f"memory://{name}")
    async with Runtime([ledger, lending], settings) as rt:
        yield rt


@pytest.fixture
async def server(runtime: Runtime) -> AsyncIterator[LiveServer]:
    """The runtime's APIs with the console at /console, as ``interlink run --http ... --console`` serves them."""
    api = api_for({d.name: runtime[d.name] for d in runtime.domains}, ApiSettings(auth=ApiKeyAuthenticator(KEYS)))
    # The landscape's figures refresh every second here, so the tests wait less for them to change.
    app = console_extension(ConsoleSettings(auth=ApiKeyAuthenticator(KEYS), refresh=1.0))(runtime, api)
    async with LiveServer(app) as live:  # type: ignore[arg-type]
        yield live


async def sign_in(browser: Any, server: LiveServer, key: str) -> Any:
    """A new page signed in with ``key`` through the login form."""
    context = await browser.new_context(viewport={"width": 1366, "height": 820})
    page = await context.new_page()
    page.set_default_timeout(5000)
    await page.goto(f"{server.url}/console/")
    await page.get_by_test_id("credential").fill(key)
    await page.get_by_test_id("sign-in").click()
    await page.wait_for_url(f"{server.url}/console/")
    return page


async def shot(page: Any, name: str) -> None:
    """A screenshot of the page for the docs, when asked for."""
    if SHOTS is not None:
        await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


async def test_an_operator_edits_and_replays_a_poison_message(
    browser: Any, server: LiveServer, runtime: Runtime
) -> None:
    """The poison letter shows in its group; edited and replayed with a reason, it is processed, the group
    empties and the audit log names who did it and why."""
    store = runtime["ledger"].store
    letter = await park_posting(store, "acc-1", -40)
    page = await sign_in(browser, server, "operator-key")
    await shot(page, "overview")
    await page.goto(f"{server.url}/console/ledger/dead-letters")
    (group,) = await Operations(ledger, store).dead_letter_groups()
    assert await page.get_by_test_id(f"count-{group.fingerprint}").inner_text() == "1"
    await shot(page, "dead-letter-groups")
    await page.goto(f"{server.url}/console/landscape")
    assert await page.locator(f"{POSTED} td[data-figure=dead]").inner_text() == "1"
    assert await page.locator(".landscape svg").count() == 1
    await page.goto(f"{server.url}/console/ledger/dead-letters")
    await page.get_by_test_id(f"group-{group.fingerprint}").click()
    await page.get_by_test_id(f"letter-{letter.id}").click()
    assert "•••" in await page.get_by_test_id("payload").inner_text()
    assert "-40" not in await page.get_by_test_id("payload").inner_text()
    await page.get_by_test_id("reveal").click()
    await shot(page, "dead-letter")
    await page.get_by_test_id("edit-payload").fill('{"account": "acc-1", "amount": 40}')
    await page.get_by_test_id("edit-reason").fill("sign error in the upstream export")
    await page.get_by_test_id("edit-submit").click()
    assert "replayed as message" in await page.get_by_test_id("notice").inner_text()
    assert await page.get_by_test_id("groups-empty").is_visible()
    stored = await store.load("Balance", "acc-1")
    assert stored is not None
    assert Balance.model_validate_json(stored.data).total == 40
    await page.goto(f"{server.url}/console/ledger/audit")
    audit = await page.get_by_test_id("audit").inner_text()
    assert "olga" in audit
    assert "sign error in the upstream export" in audit
    await shot(page, "audit")


async def test_a_viewer_cannot_act(browser: Any, server: LiveServer, runtime: Runtime) -> None:
    """A viewer sees the letter masked and no action, and a replay posted from its session is refused 403."""
    letter = await park_posting(runtime["ledger"].store, "acc-2", -1)
    page = await sign_in(browser, server, "viewer-key")
    await page.goto(f"{server.url}/console/ledger/dead-letters/{letter.id}")
    assert await page.get_by_test_id("replay").count() == 0
    assert await page.get_by_test_id("edit").count() == 0
    csrf = await page.locator("form.logout input[name=csrf]").get_attribute("value")
    answer = await page.request.post(
        f"{server.url}/console/ledger/dead-letters/replay",
        form={"ids": str(letter.id), "reason": "let me", "csrf": csrf},
        headers={"origin": server.url},
    )
    assert answer.status == 403
    assert await runtime["ledger"].store.dead_letter(letter.id or 0) is not None


async def test_a_saga_stuck_on_a_stopped_domain_is_shown_and_retried(
    browser: Any, server: LiveServer, runtime: Runtime
) -> None:
    """A saga whose partner was stopped waits at its first step; once the partner runs, Retry step ends it."""
    saga_id = await runtime["lending"].execute(originate, StartOrigination(ref="stuck-1"))
    page = await sign_in(browser, server, "operator-key")
    await page.goto(f"{server.url}/console/lending/sagas?state=running")
    await page.get_by_test_id(f"saga-{saga_id}").click()
    assert "running" in await page.locator("main").inner_text()
    await shot(page, "saga")
    async with Runtime([partner], runtime.settings):  # the partner is back
        await page.get_by_test_id("saga-retry-reason").fill("partner restarted")
        await page.get_by_test_id("saga-retry-submit").click()
        assert "retry done" in await page.get_by_test_id("notice").inner_text()

        async def completed() -> bool:
            state = await load_saga(runtime["lending"].store, saga_id)
            return state is not None and state.status == SagaStatus.COMPLETED

        await wait_until(completed, timeout=30, what="the retried saga to complete")
    await page.reload()
    assert "completed" in await page.locator("main").inner_text()
    await page.goto(f"{server.url}/console/lending/audit")
    assert "partner restarted" in await page.get_by_test_id("audit").inner_text()


async def test_the_landscape_shows_each_arrows_figures_and_refreshes_them(
    browser: Any, server: LiveServer, runtime: Runtime
) -> None:
    """A viewer sees rate, lag and dead letters on the arrows; after sagas send commands and a posting is
    parked, the page's own refresh (no reload) shows the new rate on the diagram and the new dead letter."""
    page = await sign_in(browser, server, "viewer-key")
    await page.goto(f"{server.url}/console/landscape")
    label = page.locator(COMMANDS_LABEL)
    assert await label.text_content() == "0/min · lag 0 · 0 dead"
    assert await page.locator(f"{POSTED} td[data-figure=dead]").inner_text() == "0"
    stamp = await page.get_by_test_id("figures-at").inner_text()
    for ref in ("flow-1", "flow-2", "flow-3"):
        await runtime["lending"].execute(originate, StartOrigination(ref=ref))
    await park_posting(runtime["ledger"].store, "acc-9", -9)
    await page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).textContent !== before",
        arg=[COMMANDS_LABEL, "0/min · lag 0 · 0 dead"],
        timeout=30_000,
    )
    assert await page.get_by_test_id("figures-at").inner_text() != stamp
    sent = int(str(await label.text_content()).split("/min")[0])
    assert sent >= 3  # each saga's first step is a command to the partner
    assert await page.locator(f"{COMMANDS} td[data-figure=rate]").inner_text() == str(sent)
    await page.wait_for_function(
        "(selector) => document.querySelector(selector).textContent === '1'",
        arg=f"{POSTED} td[data-figure=dead]",
        timeout=30_000,
    )
    posted = page.locator('g.integration-label[data-source="ops-bank"] text.figures')
    assert str(await posted.text_content()).endswith("1 dead")
    assert await posted.get_attribute("class") == "figures alert"
    figures = await page.request.get(f"{server.url}/console/landscape/figures")
    assert figures.status == 200
    arrows = {a["id"]: a for a in (await figures.json())["arrows"]}
    assert arrows["lending>partner:command-event"]["sent"] == sent
    assert arrows["ops-bank>ledger:event"]["dead_letters"] == 1
    assert arrows["ops-bank>ledger:event"]["rate"] is None  # the bank is not hosted here: its rate is unknown
    await shot(page, "landscape")
