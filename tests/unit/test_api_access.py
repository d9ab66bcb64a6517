"""Who may use the API: bearer tokens per agent and for supervisors, over an in-memory PBX.

Without tokens the API trusts the machine it runs on (loopback only); with them every
/api route but health and the OpenAPI document asks for one, an agent changes only
their own state, and no token ever shows in a log or an answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from telephony.config import Site, parse_site
from telephony.config.tokens import scrypt
from telephony.engine.engine import Engine
from telephony.port.memory import MemoryPort
from telephony.routing.clock import ManualClock
from telephony.web import access
from telephony.web.api import make_app

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
Client = TestClient[object, object]
ASA = "asa-token-0123456789abcdef"
BJORN = "bjorn-token-0123456789abcdef"
EVA = "eva-supervisor-0123456789abcdef"  # kept in the site file as a scrypt hash
ENV = {"TELEPHONY_AMI_SECRET": "a-long-ami-secret", "ASA_API_TOKEN": ASA,
       "BJORN_API_TOKEN": BJORN}
EVA_HASH = scrypt(EVA).text()
SECRETS = (ASA, BJORN, EVA)


def site_with(demo_data: dict[str, Any], api: dict[str, Any]) -> Site:
    demo_data["api"] = api
    return parse_site(yaml.safe_dump(demo_data, allow_unicode=True), ENV)


TOKENS = [
    {"agent": "asa", "token": "${ASA_API_TOKEN}"},
    {"agent": "bjorn", "token": "${BJORN_API_TOKEN}"},
    {"supervisor": "Eva", "token_hash": EVA_HASH},
]


async def client_for(site: Site, **server: Any) -> AsyncIterator[Client]:
    engine = Engine(site, MemoryPort(), ManualClock(NOW))
    await engine.start()
    test_server = TestServer(make_app(engine), host="127.0.0.1")
    await test_server.start_server(**server)  # the runner's options (its access log)
    async with TestClient(test_server) as client:
        yield client
    await engine.stop()


@pytest.fixture
async def client(demo_data: dict[str, Any]) -> AsyncIterator[Client]:
    site = site_with(demo_data, {"host": "0.0.0.0", "tokens": TOKENS})
    async for c in client_for(site):
        yield c


@pytest.fixture
async def open_client(demo_data: dict[str, Any]) -> AsyncIterator[Client]:
    async for c in client_for(site_with(demo_data, {"port": 8080})):
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- without a token, or with a wrong one: 401 -------------------------------------------

async def test_no_token_is_a_401_with_a_bearer_challenge(client: Client) -> None:
    response = await client.get("/api/status")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="telephony"'
    assert await response.json() == {"field": "authorization",
                                     "error": "send Authorization: Bearer <token>"}


@pytest.mark.parametrize("header", [f"Bearer {ASA}x", f"Bearer {ASA[:-1]}", f"Basic {ASA}",
                                    "Bearer", ASA, f"Bearer {EVA.upper()}"])
async def test_a_wrong_token_is_a_401(client: Client, header: str) -> None:
    response = await client.get("/api/status", headers={"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="telephony"')


async def test_a_wrong_token_on_a_change_is_a_401_and_changes_nothing(client: Client) -> None:
    response = await client.put("/api/agents/asa/focus", json={}, headers=bearer("x" * 20))
    assert response.status == 401
    status = await (await client.get("/api/status", headers=bearer(EVA))).json()
    assert [a["focus"] for a in status["agents"]] == [None, None, None]


async def test_a_token_in_the_query_string_is_not_read(client: Client) -> None:
    response = await client.get("/api/status", params={"access_token": ASA})
    assert response.status == 401


async def test_an_unknown_api_path_asks_for_a_token_first(client: Client) -> None:
    assert (await client.get("/api/no-such-thing")).status == 401
    assert (await client.get("/api/no-such-thing", headers=bearer(ASA))).status == 404


async def test_the_scheme_word_is_case_insensitive(client: Client) -> None:
    response = await client.get("/api/status", headers={"Authorization": f"bearer {ASA}"})
    assert response.status == 200


# -- open to all ---------------------------------------------------------------------------

async def test_health_and_the_pages_need_no_token(client: Client) -> None:
    assert (await client.get("/api/health")).status == 200
    assert (await client.get("/")).status == 200


async def test_the_openapi_document_needs_no_token(client: Client) -> None:
    # Served by the API part; whether it is there yet or not, it never asks for a token.
    assert (await client.get("/api/openapi.json")).status not in (401, 403)


async def test_with_tokens_any_host_name_is_served(client: Client) -> None:
    # The API may listen beyond loopback: the token, not the name, lets a caller in.
    response = await client.get("/api/status", headers={**bearer(ASA), "Host": "pbx.example"})
    assert response.status == 200


# -- reads: any valid token ------------------------------------------------------------------

@pytest.mark.parametrize("token", SECRETS)
async def test_any_valid_token_reads(client: Client, token: str) -> None:
    assert (await client.get("/api/status", headers=bearer(token))).status == 200
    assert (await client.get("/api/agents/chen/skills", headers=bearer(token))).status == 200


# -- changes: an agent their own, a supervisor anyone's --------------------------------------

async def test_an_agent_sets_and_ends_their_own_focus(client: Client) -> None:
    response = await client.put("/api/agents/asa/focus", json={"minutes": 30},
                                headers=bearer(ASA))
    assert response.status == 200
    assert (await response.json())["agent"] == "asa"
    response = await client.delete("/api/agents/asa/focus", json={}, headers=bearer(ASA))
    assert response.status == 200


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/api/agents/bjorn/focus"), ("DELETE", "/api/agents/bjorn/focus"),
    ("PUT", "/api/agents/bjorn/state"), ("POST", "/api/agents/bjorn/transfer"),
])
async def test_an_agent_changing_another_agent_is_a_403_saying_why(
    client: Client, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"minutes": 30}, headers=bearer(ASA))
    assert response.status == 403
    assert await response.json() == {
        "field": "agent", "error": "asa's token changes only asa's own state, focus and calls"}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/cases/+46701234567", {"agent": "asa"}),
    ("DELETE", "/api/cases/+46701234567", {}),
    ("POST", "/api/hunt-groups/intake/agents/asa/leave", {}),
    ("PUT", "/api/agents/asa/skills/pension", {"level": 5}),
    ("DELETE", "/api/agents/asa/skills/pension", {}),
])
async def test_an_agent_cannot_make_a_supervisors_change_even_about_themselves(
    client: Client, method: str, path: str, body: dict[str, Any]
) -> None:
    response = await client.request(method, path, json=body, headers=bearer(ASA))
    assert response.status == 403
    assert (await response.json())["error"] == (
        "asa's token is an agent's: only a supervisor's may do this")


async def test_an_agent_may_reach_their_own_state_and_transfer(client: Client) -> None:
    # What the handler then says (no live call, a route still to come) is not access's.
    for method, path in (("PUT", "/api/agents/asa/state"), ("POST", "/api/agents/asa/transfer")):
        response = await client.request(method, path, json={}, headers=bearer(ASA))
        assert response.status not in (401, 403), (method, path)


async def test_a_supervisor_changes_anyone(client: Client) -> None:
    for agent in ("asa", "bjorn", "chen"):
        response = await client.put(f"/api/agents/{agent}/focus", json={}, headers=bearer(EVA))
        assert response.status == 200
    response = await client.put("/api/cases/+46701234567", json={"agent": "chen"},
                                headers=bearer(EVA))
    assert response.status == 200


async def test_the_changes_an_agent_may_make_are_their_own_state_focus_and_transfer(
    demo_data: dict[str, Any]
) -> None:
    # On the access middleware alone, with a stand-in for every route that changes an
    # agent: which of them an agent's token reaches.
    async def done(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application(middlewares=[access.guard(site_with(demo_data, {"tokens": TOKENS}).api)])
    routes = [("PUT", "/api/agents/{agent}/state"), ("PUT", "/api/agents/{agent}/focus"),
              ("DELETE", "/api/agents/{agent}/focus"), ("POST", "/api/agents/{agent}/transfer"),
              ("PUT", "/api/agents/{agent}/skills/{skill}"),
              ("POST", "/api/hunt-groups/{group}/agents/{agent}/{action}")]
    for method, route in routes:
        app.router.add_route(method, route, done)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        answers = {}
        for method, route in routes:
            for agent in ("asa", "bjorn"):
                path = route.format(agent=agent, skill="pension", group="intake", action="join")
                response = await client.request(method, path, headers=bearer(ASA))
                answers[method, path] = response.status
    assert answers == {
        ("PUT", "/api/agents/asa/state"): 200, ("PUT", "/api/agents/bjorn/state"): 403,
        ("PUT", "/api/agents/asa/focus"): 200, ("PUT", "/api/agents/bjorn/focus"): 403,
        ("DELETE", "/api/agents/asa/focus"): 200, ("DELETE", "/api/agents/bjorn/focus"): 403,
        ("POST", "/api/agents/asa/transfer"): 200, ("POST", "/api/agents/bjorn/transfer"): 403,
        ("PUT", "/api/agents/asa/skills/pension"): 403,
        ("PUT", "/api/agents/bjorn/skills/pension"): 403,
        ("POST", "/api/hunt-groups/intake/agents/asa/join"): 403,
        ("POST", "/api/hunt-groups/intake/agents/bjorn/join"): 403,
    }


async def test_the_principal_is_on_the_request(demo_data: dict[str, Any]) -> None:
    seen: list[access.Principal | None] = []

    async def probe(request: web.Request) -> web.Response:
        seen.append(access.principal(request))
        return web.json_response({})

    app = web.Application(middlewares=[access.guard(site_with(demo_data, {"tokens": TOKENS}).api)])
    app.router.add_get("/api/probe", probe)
    app.router.add_get("/api/health", probe)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for token in (ASA, EVA):
            assert (await client.get("/api/probe", headers=bearer(token))).status == 200
        assert (await client.get("/api/health")).status == 200
    assert seen == [access.Principal(agent="asa", supervisor=False, name="asa"),
                    access.Principal(agent=None, supervisor=True, name="Eva"),
                    None]


# -- without tokens: as before, loopback only ------------------------------------------------

async def test_without_tokens_everything_is_open_on_loopback(open_client: Client) -> None:
    assert (await open_client.get("/api/status")).status == 200
    response = await open_client.put("/api/agents/asa/focus", json={})
    assert response.status == 200


async def test_without_tokens_a_foreign_host_name_is_refused(open_client: Client) -> None:
    # DNS rebinding: a page elsewhere resolving its own name to 127.0.0.1.
    response = await open_client.get("/api/status", headers={"Host": "evil.example"})
    assert response.status == 403
    assert (await response.json())["field"] == "host"


# -- no secret in logs or answers -------------------------------------------------------------

async def test_no_token_shows_in_logs_or_answers(
    demo_data: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site = site_with(demo_data, {"host": "0.0.0.0", "tokens": TOKENS})
    answers: list[str] = []
    async for client in client_for(site, access_log_class=access.AccessLog):
        for token in (*SECRETS, ASA + "x", "y" * 20):
            for method, path in (("GET", "/api/status"), ("PUT", "/api/agents/chen/focus"),
                                 ("PUT", "/api/cases/+46701234567")):
                response = await client.request(method, path, json={}, headers=bearer(token),
                                                params={"token": token})
                answers.append(await response.text())
    assert caplog.records, "the access log was on"
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in SECRETS:
        assert secret not in logged
        assert all(secret not in answer for answer in answers)


def test_the_access_log_hides_token_like_query_values() -> None:
    line = '"GET /api/events?after=5&access_token=abc&Token=d%20f HTTP/1.1" 200'
    assert access.redacted(line) == (
        '"GET /api/events?after=5&access_token=REDACTED&Token=REDACTED HTTP/1.1" 200')
    plain = '"GET /api/experts?skill=pension&min_level=3 HTTP/1.1" 200'
    assert access.redacted(plain) == plain


def test_a_site_keeps_no_token_in_clear(demo_data: dict[str, Any]) -> None:
    site = site_with(demo_data, {"host": "0.0.0.0", "tokens": TOKENS})
    shown = repr(site) + str(site.model_dump())
    for secret in SECRETS:
        assert secret not in shown
    assert "<sha256 token hash>" in repr(site.api.tokens[0])


# -- the token book ----------------------------------------------------------------------------

async def test_a_scrypt_hash_verifies_once_and_is_remembered(demo_data: dict[str, Any]) -> None:
    site = site_with(demo_data, {"host": "::", "tokens": TOKENS})
    book = access.TokenBook(site.api.tokens)
    eva = access.Principal(agent=None, supervisor=True, name="Eva")
    assert await book.who(EVA) == eva
    assert await book.who(EVA) == eva
    assert await book.who(ASA) == access.Principal(agent="asa", supervisor=False, name="asa")
    assert await book.who(EVA + "!") is None
    assert await book.who(EVA + "!") is None  # remembered as refused


async def test_without_tokens_every_request_is_the_local_supervisor(
    demo_data: dict[str, Any]
) -> None:
    seen: list[access.Principal | None] = []

    async def probe(request: web.Request) -> web.Response:
        seen.append(access.principal(request))
        return web.json_response({})

    app = web.Application(middlewares=[access.guard(site_with(demo_data, {"port": 8080}).api)])
    app.router.add_get("/api/probe", probe)
    app.router.add_get("/", probe)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/api/probe")).status == 200
        assert (await client.get("/")).status == 200
    assert seen == [access.LOCAL, access.LOCAL]
    assert access.LOCAL == access.Principal(agent=None, supervisor=True, name="local")
