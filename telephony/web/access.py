"""Who may use the API: the aiohttp middleware that reads bearer tokens.

With no `api.tokens` the API trusts the machine it runs on, as before tokens: it is
bound to loopback (the site check refuses anything else), answers only requests
addressed to a loopback name (against DNS rebinding), and everyone is a supervisor.

With tokens, every `/api/*` route but `/api/health` and `/api/openapi.json` needs
`Authorization: Bearer <token>` (401 without or with a wrong one). Any valid token
reads; a supervisor's changes anything; an agent's changes only that agent's own focus
and state and transfers their own call (403 otherwise, saying why). Pages load
without a token. A token is looked for in the Authorization header only, never in the
query string, and never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_log import AccessLogger

from telephony.config.models import Api, ApiToken


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: an agent (`agent` set) or a supervisor."""

    agent: str | None
    supervisor: bool
    name: str


LOCAL = Principal(agent=None, supervisor=True, name="local")
"""Everyone, on a site without tokens: the API trusts the machine."""

PRINCIPAL: Final = web.RequestKey("principal", Principal)
"""`request[PRINCIPAL]`: the Principal of a request that showed a valid token (or
LOCAL without tokens); absent on the routes open to all (see principal())."""

_OPEN: Final = frozenset({"/api/health", "/api/openapi.json"})
_READS: Final = frozenset({"GET", "HEAD"})
# What an agent's token may change, each only for that agent: (method, route).
_OWN: Final = frozenset({
    ("PUT", "/api/agents/{agent}/focus"),
    ("DELETE", "/api/agents/{agent}/focus"),
    ("PUT", "/api/agents/{agent}/state"),
    ("POST", "/api/agents/{agent}/transfer"),
})
_LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_REFUSED_KEPT: Final = 1024


def principal(request: web.Request) -> Principal | None:
    """The request's Principal; None on a route open to all, with tokens."""
    return request.get(PRINCIPAL)


def _whose(entry: ApiToken) -> Principal:
    if entry.agent is not None:
        return Principal(agent=entry.agent, supervisor=False, name=entry.agent)
    return Principal(agent=None, supervisor=True, name=str(entry.supervisor))


class TokenBook:
    """The site's tokens, by hash, and who each belongs to.

    A token is hashed with SHA-256 and compared with every known SHA-256 in constant
    time. A scrypt hash (salted, one per entry) is costly to check, so a token found
    that way is remembered by its SHA-256 for the engine's life, and a refused one is
    remembered too (the last 1,024), so a client pays it once rather than per request.
    """

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self._known: list[tuple[bytes, Principal]] = []
        self._costly: list[tuple[ApiToken, Principal]] = []
        for entry in tokens:
            digest = entry.digest
            if digest.scheme == "sha256":
                self._known.append((digest.digest, _whose(entry)))
            else:
                self._costly.append((entry, _whose(entry)))
        self._refused: OrderedDict[bytes, None] = OrderedDict()
        self._lock = asyncio.Lock()

    def __bool__(self) -> bool:
        return bool(self._known or self._costly)

    def _lookup(self, key: bytes) -> Principal | None:
        found = None
        for digest, who in self._known:  # every entry compared: no early way out
            if hmac.compare_digest(digest, key) and found is None:
                found = who
        return found

    async def who(self, token: str) -> Principal | None:
        """Whose `token` is, or None when it is nobody's."""
        key = hashlib.sha256(token.encode()).digest()
        found = self._lookup(key)
        if found is not None or not self._costly or key in self._refused:
            return found
        # One costly check at a time, off the event loop.
        async with self._lock:
            found = self._lookup(key)
            if found is None and key not in self._refused:
                found = await asyncio.to_thread(self._costly_lookup, token)
                if found is None:
                    self._refused[key] = None
                    while len(self._refused) > _REFUSED_KEPT:
                        self._refused.popitem(last=False)
                else:
                    self._known.append((key, found))
            return found

    def _costly_lookup(self, token: str) -> Principal | None:
        for entry, who in self._costly:
            if entry.digest.matches(token):
                return who
        return None


def _refuse(status: int, field: str, message: str, challenge: str | None = None) -> web.Response:
    headers = {} if challenge is None else {"WWW-Authenticate": challenge}
    return web.json_response({"error": message, "field": field}, status=status, headers=headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def guard(api: Api) -> Middleware:
    """The access middleware for a site's `api` section (see the module's text)."""
    book = TokenBook(api.tokens)

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not book:
            # The API trusts this machine: a web page the supervisor happens to open
            # must not drive it through a name that resolves here (DNS rebinding).
            if request.url.host not in _LOOPBACK_NAMES:
                return _refuse(403, "host", "only requests to a loopback address are served")
            request[PRINCIPAL] = LOCAL
            return await handler(request)
        route = request.match_info.route.resource
        # By the route matched, not the path as written, so no spelling of a path
        # reaches an API route unguarded. Unknown paths under /api ask for a token
        # too: which routes exist is not told to strangers.
        path = route.canonical if route is not None else request.path
        api_route = path == "/api" or path.startswith("/api/")
        if path in _OPEN or (not api_route and request.method in _READS):
            return await handler(request)
        token = _bearer(request)
        if token is None:
            return _refuse(401, "authorization", "send Authorization: Bearer <token>",
                           'Bearer realm="telephony"')
        who = await book.who(token)
        if who is None:
            return _refuse(401, "authorization", "the token is not valid",
                           'Bearer realm="telephony", error="invalid_token"')
        request[PRINCIPAL] = who
        if request.method in _READS or who.supervisor or route is None:
            return await handler(request)  # an unknown route answers 404 itself
        if (request.method, path) not in _OWN:
            return _refuse(403, "authorization",
                           f"{who.name}'s token is an agent's: only a supervisor's may do this")
        if request.match_info.get("agent") != who.agent:
            return _refuse(403, "agent", f"{who.name}'s token changes only {who.name}'s own "
                           "state, focus and calls")
        return await handler(request)

    return access


# A query parameter named like a token, up to its value's end.
_TOKEN_QUERY = re.compile(r"([?&][^=&\s\"]*(?:token|secret)[^=&\s\"]*=)[^&\s\"]*",
                          re.IGNORECASE)


def redacted(text: str) -> str:
    """`text` (a URL, a log line) with every token-like query value hidden."""
    return _TOKEN_QUERY.sub(r"\1REDACTED", text)


class AccessLog(AccessLogger):
    """aiohttp's access log (`access_log_class=`), with token-like query values hidden.

    This API reads tokens from the Authorization header only, which the access log
    never shows; a client that puts one in a query string (or a Referer) anyway is not
    logged with it.
    """

    def _format_line(
        self, request: web.BaseRequest, response: web.StreamResponse, time: float
    ) -> Iterable[tuple[str | tuple[str, str], str]]:
        return [(key, redacted(value) if isinstance(value, str) else value)
                for key, value in super()._format_line(request, response, time)]
