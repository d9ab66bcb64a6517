"""`GET /panel`: the agent panel, a page of plain HTML, CSS and JavaScript shipped in
the package (no build step, nothing fetched from elsewhere).

The page holds no data of its own: it asks for a token when the API wants one (kept in
the browser's sessionStorage, sent as `Authorization: Bearer`), reads `/api/agents`,
follows `/api/events` and changes the signed-in agent's state through the API. So the
page itself is served to anyone, without a token, and its Content-Security-Policy lets
it run only its own script and talk only to this engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from aiohttp import web

# Its own script and style sheet only (no inline script an injected name could smuggle
# in), requests to this engine only, never framed by another site.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A new release of the engine brings a new page: never keep an old one.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class _File:
    name: str
    content_type: str


ROUTES: dict[str, _File] = {
    "/panel": _File("panel.html", "text/html"),
    "/panel/panel.js": _File("panel.js", "text/javascript"),
    "/panel/panel.css": _File("panel.css", "text/css"),
}

_BODIES = web.AppKey("panel_files", dict[str, bytes])


async def _serve(request: web.Request) -> web.Response:
    file = ROUTES[request.path]
    return web.Response(
        body=request.app[_BODIES][request.path],
        content_type=file.content_type,
        charset="utf-8",
        headers=_HEADERS,
    )


def serve_panel(app: web.Application) -> None:
    """Serve the panel's files from the installed package (read once, here)."""
    package = resources.files("telephony.web")
    app[_BODIES] = {path: package.joinpath(f.name).read_bytes() for path, f in ROUTES.items()}
    for path in ROUTES:
        app.router.add_get(path, _serve)
