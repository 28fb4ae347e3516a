"""The console over HTTP (httpx on ASGI): sign-in, roles, CSRF, masking and escaping."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from interlink.console import OPERATE, PAYLOADS, READ, ConsoleDomain, ConsoleSettings, build_console
from interlink.console.hosting import beside, refuse_unauthenticated
from interlink.exceptions import ConfigurationError
from interlink.patterns.api_exposure.security import AnyOf, ApiKeyAuthenticator, JwtAuthenticator, Principal
from interlink.runtime.http import HttpEndpoint
from interlink.specs.landscape import Edge, Landscape, Node
from tests.console.fakes import SECRET_VALUE, FakeOperations

BASE = "http://console.test"
SECRET = "s" * 32
KEYS = {
    "viewer-key": Principal("vera", frozenset({READ})),
    "operator-key": Principal("otto", frozenset({READ, OPERATE})),
    "payload-key": Principal("pia", frozenset({READ, OPERATE, PAYLOADS})),
    "api-only-key": Principal("app", frozenset({"loans:read"})),
}


def token(subject: str, scopes: str) -> str:
    """A valid HS256 token for the console's audience and issuer."""
    claims = {"sub": subject, "scope": scopes, "aud": "bank", "iss": "idp", "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture
def ops() -> FakeOperations:
    """The domain's fake operations, recording actions."""
    return FakeOperations()


@pytest.fixture
async def client(ops: FakeOperations) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console mounted at /console, with JWT and API-key authentication."""
    auth = AnyOf([JwtAuthenticator(audience="bank", issuer="idp", secret=SECRET), ApiKeyAuthenticator(KEYS)])
    app = beside(build_console([ConsoleDomain("loans", ops)], ConsoleSettings(auth=auth)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def sign_in(client: httpx.AsyncClient, credential: str) -> str:
    """Sign in through the login form; returns the CSRF token of the session."""
    done = await client.post("/console/login", data={"credential": credential}, headers={"origin": BASE})
    assert done.status_code == 303, done.text
    page = await client.get("/console/loans/dead-letters/7")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_without_a_session_pages_redirect_to_sign_in_and_actions_are_refused(client: httpx.AsyncClient) -> None:
    """No credential: a page sends the browser to the login form, an action answers 401."""
    page = await client.get("/console/")
    assert (page.status_code, page.headers["location"]) == (303, "/console/login")
    action = await client.post("/console/loans/dead-letters/replay", data={"ids": "7", "reason": "fixed it"})
    assert action.status_code == 401


async def test_signing_in_sets_a_strict_http_only_cookie(client: httpx.AsyncClient) -> None:
    """The session cookie is HttpOnly and SameSite=Strict, scoped to /console."""
    done = await client.post("/console/login", data={"credential": "viewer-key"}, headers={"origin": BASE})
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/console" in cookie
    assert "vera" in (await client.get("/console/")).text


async def test_a_wrong_credential_or_one_without_the_console_scope_cannot_sign_in(client: httpx.AsyncClient) -> None:
    """An unknown key answers 401; a valid key without console:read answers 403."""
    bad = await client.post("/console/login", data={"credential": "nope"}, headers={"origin": BASE})
    assert bad.status_code == 401
    other = await client.post("/console/login", data={"credential": "api-only-key"}, headers={"origin": BASE})
    assert other.status_code == 403


async def test_a_viewer_sees_no_action_and_its_post_is_refused(client: httpx.AsyncClient, ops: FakeOperations) -> None:
    """A viewer's pages have no action form, and a replay it posts anyway answers 403."""
    csrf = await sign_in(client, "viewer-key")
    page = await client.get("/console/loans/dead-letters/7")
    assert 'data-testid="replay"' not in page.text
    assert 'data-testid="edit"' not in page.text
    assert "Replay group" not in (await client.get("/console/loans/dead-letters")).text
    refused = await client.post(
        "/console/loans/dead-letters/replay", data={"ids": "7", "reason": "try", "csrf": csrf}, headers={"origin": BASE}
    )
    assert refused.status_code == 403
    assert ops.calls == []


async def test_an_operator_action_needs_the_session_csrf_token_and_the_console_origin(
    client: httpx.AsyncClient, ops: FakeOperations
) -> None:
    """Without the token, with a wrong one or from another origin: 403; with both, the action runs audited."""
    csrf = await sign_in(client, "operator-key")
    form = {"ids": "7", "reason": "handler fixed"}
    path = "/console/loans/dead-letters/replay"
    assert (await client.post(path, data=form, headers={"origin": BASE})).status_code == 403
    assert (await client.post(path, data=form | {"csrf": "x" * 43}, headers={"origin": BASE})).status_code == 403
    evil = await client.post(path, data=form | {"csrf": csrf}, headers={"origin": "http://evil.test"})
    assert evil.status_code == 403
    assert (await client.post(path, data=form | {"csrf": csrf})).status_code == 403  # no Origin, no Referer
    assert ops.calls == []
    done = await client.post(path, data=form | {"csrf": csrf}, headers={"origin": BASE})
    assert done.status_code == 303
    assert ops.calls == [("replay", [7], "otto", "handler fixed")]


ACTIONS = {
    "replay": ("/console/loans/dead-letters/replay", {"ids": "7"}),
    "replay group": ("/console/loans/dead-letters/replay-group", {"fingerprint": "f" * 16}),
    "discard": ("/console/loans/dead-letters/discard", {"ids": "7"}),
    "edit": ("/console/loans/dead-letters/7/edit", {"payload": '{"amount": 1}'}),
    "saga retry": ("/console/loans/sagas/s-1/retry", {}),
    "saga compensate": ("/console/loans/sagas/s-1/compensate", {}),
    "saga abandon": ("/console/loans/sagas/s-1/abandon", {}),
}


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("reason", [None, " ", "ok"], ids=["missing", "blank", "too-short"])
async def test_every_action_needs_a_reason(
    client: httpx.AsyncClient, ops: FakeOperations, action: str, reason: str | None
) -> None:
    """Each action posted without a reason (or a blank or two-letter one) answers 400 naming it, and does nothing."""
    csrf = await sign_in(client, "payload-key")
    path, form = ACTIONS[action]
    form = form | {"csrf": csrf} | ({} if reason is None else {"reason": reason})
    done = await client.post(path, data=form, headers={"origin": BASE})
    assert done.status_code == 400
    assert "reason" in done.text
    assert ops.calls == []
    given = await client.post(path, data=form | {"reason": "handler fixed"}, headers={"origin": BASE})
    assert given.status_code == 303, given.text
    assert [call[3] for call in ops.calls] == ["handler fixed"]


async def test_payloads_are_masked_unless_the_role_may_see_them(client: httpx.AsyncClient) -> None:
    """An operator sees the payload's keys, not its values; the payload role sees them when asked."""
    await sign_in(client, "operator-key")
    for path in ("/console/loans/dead-letters/7?reveal=1", "/console/loans/sagas/s-1", "/console/loans/audit"):
        assert SECRET_VALUE not in (await client.get(path)).text, path
    assert "iban" in (await client.get("/console/loans/dead-letters/7")).text
    await sign_in(client, "payload-key")
    assert SECRET_VALUE not in (await client.get("/console/loans/dead-letters/7")).text
    assert SECRET_VALUE in (await client.get("/console/loans/dead-letters/7?reveal=1")).text


async def test_editing_a_payload_needs_the_payload_scope(client: httpx.AsyncClient, ops: FakeOperations) -> None:
    """An operator without the payload scope cannot edit; one with it replays the edited copy."""
    csrf = await sign_in(client, "operator-key")
    form = {"payload": '{"amount": 1}', "reason": "amount corrected"}
    path = "/console/loans/dead-letters/7/edit"
    assert (await client.post(path, data=form | {"csrf": csrf}, headers={"origin": BASE})).status_code == 403
    csrf = await sign_in(client, "payload-key")
    done = await client.post(path, data=form | {"csrf": csrf}, headers={"origin": BASE})
    assert done.status_code == 303
    assert "m-2" in done.headers["location"]
    assert ops.calls == [("edit_and_replay", (7, {"amount": 1}), "pia", "amount corrected")]


async def test_scripts_authenticate_with_the_api_headers_and_need_no_csrf_token(
    client: httpx.AsyncClient, ops: FakeOperations
) -> None:
    """A bearer token or API key on the request itself acts without a session (a browser never adds them)."""
    bearer = {"authorization": f"Bearer {token('sam', f'{READ} {OPERATE}')}"}
    done = await client.post("/console/loans/sagas/s-1/retry", data={"reason": "receiver back"}, headers=bearer)
    assert done.status_code == 303
    viewer = {"x-api-key": "viewer-key"}
    assert (await client.get("/console/loans/sagas", headers=viewer)).status_code == 200
    refused = await client.post("/console/loans/sagas/s-1/abandon", data={"reason": "give up"}, headers=viewer)
    assert refused.status_code == 403
    assert ops.calls == [("retry_saga_step", "s-1", "sam", "receiver back")]


async def test_text_from_messages_is_escaped(client: httpx.AsyncClient) -> None:
    """An error text holding markup is shown as text, never as HTML."""
    await sign_in(client, "viewer-key")
    page = await client.get("/console/loans/dead-letters/7")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_an_unauthenticated_console_on_loopback_still_protects_actions() -> None:
    """Without an authenticator everyone is 'local', but an action still needs the session's CSRF token."""
    ops = FakeOperations()
    app = beside(build_console([ConsoleDomain("loans", ops)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        cross = await client.post("/console/loans/sagas/s-1/abandon", data={"reason": "from elsewhere"})
        assert cross.status_code == 401
        page = await client.get("/console/loans/sagas/s-1")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        data = {"reason": "stuck", "csrf": csrf.group(1)}
        done = await client.post("/console/loans/sagas/s-1/abandon", data=data, headers={"origin": BASE})
        assert done.status_code == 303
    assert ops.calls == [("abandon_saga", "s-1", "local", "stuck")]


def test_the_console_is_never_served_open_on_a_non_loopback_address() -> None:
    """Without authentication, only a loopback address is accepted."""
    refuse_unauthenticated(HttpEndpoint("127.0.0.1", 8089), authenticated=False)
    refuse_unauthenticated(HttpEndpoint("0.0.0.0", 8089), authenticated=True)
    with pytest.raises(ConfigurationError, match="without authentication"):
        refuse_unauthenticated(HttpEndpoint("0.0.0.0", 8089), authenticated=False)


async def test_the_landscape_figures_are_json_for_a_viewer_and_refused_without_credentials() -> None:
    """``/console/landscape/figures`` answers each arrow's figures and label to a viewer; the page draws the
    same label on the arrow; without valid credentials the figures are refused."""
    landscape = Landscape(
        [Node("loans", "loans", "domain"), Node("customer", "customer", "system")],
        [Edge("loans", "customer", "event", ["LoanGranted"]), Edge("customer", "loans", "event", ["CustomerChanged"])],
    )
    console = build_console(
        [ConsoleDomain("loans", FakeOperations())], ConsoleSettings(auth=ApiKeyAuthenticator(KEYS)), landscape
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=beside(console)), base_url=BASE) as client:
        assert (await client.get("/console/landscape/figures", headers={"x-api-key": "wrong"})).status_code == 401
        assert (
            await client.get("/console/landscape/figures", headers={"x-api-key": "api-only-key"})
        ).status_code == 403
        answer = await client.get("/console/landscape/figures", headers={"x-api-key": "viewer-key"})
        page = await client.get("/console/landscape", headers={"x-api-key": "viewer-key"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    granted, changed = answer.json()["arrows"]
    assert (granted["id"], granted["sent"], granted["outbox_pending"], granted["dead_letters"]) == (
        "loans>customer:event", 6, 2, 0,
    )  # fmt: skip
    assert granted["label"] == "6/min · lag 2 (4s) · 0 dead"
    assert (changed["rate"], changed["consumer_lag"], changed["dead_letters"]) == (None, 3, 1)
    assert changed["label"] == "lag 3 · 1 dead"
    assert changed["alert"] is True
    assert '<text class="figures alert"' in page.text
    assert "6/min · lag 2 (4s) · 0 dead</text>" in page.text


async def test_the_overview_shows_each_replicas_lag(client: httpx.AsyncClient) -> None:
    """A replica's lag is its feed's messages not applied yet: here the domain's consumer backlog (the producer,
    customer, is not read by this console, so what waits in its outbox is unknown)."""
    page = await client.get("/console/", headers={"x-api-key": "viewer-key"})
    assert page.status_code == 200
    lag = page.text[page.text.index("replica lag") :]
    assert "customer.CustomerChanged" in lag
    assert "<td>3</td>" in lag
