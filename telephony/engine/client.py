"""A small blocking client of the engine's HTTP API, for the command line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class ApiError(Exception):
    """The engine refused a request, or could not be reached."""


def request(
    base: str, method: str, path: str, body: dict[str, Any] | None = None,
    *, token: str | None = None,
) -> dict[str, Any]:
    """`token`: the API token, sent as `Authorization: Bearer` (a site with api.tokens)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
            hint = " (give --token or TELEPHONY_API_TOKEN)" if exc.code == 401 else ""
            raise ApiError(f"{detail.get('field')}: {detail.get('error')}{hint}") from None
        except (json.JSONDecodeError, AttributeError):
            raise ApiError(f"HTTP {exc.code} from the engine") from None
    except urllib.error.URLError as exc:
        raise ApiError(f"engine not reachable at {base} ({exc.reason}); is `telephony run` going?") from None
