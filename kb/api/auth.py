"""Who may use the API: nobody but this computer, unless tokens are configured.

- Bound to a loopback address (127.0.0.0/8, ::1, localhost) without tokens: no authentication;
  only programs on this computer can connect.
- Bound anywhere else: `serve` refuses to start without tokens (`require_tokens`), because the
  documents are private and the network is not.
- With tokens configured, wherever it is bound, every request (the docs page included) needs
  `Authorization: Bearer <token>`, compared in constant time against each token.
"""
from __future__ import annotations

import hmac
import ipaddress
from typing import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from kb.errors import ConfigError, KBError
from kb.api.errors import error_response


def is_loopback(host: str) -> bool:
    """True for an address only this computer can reach. A host name other than `localhost` is
    not trusted to resolve to loopback (it could resolve anywhere), so it counts as remote."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tokens(host: str, tokens: Sequence[str]) -> None:
    """Refuse to serve beyond loopback without tokens (a `ConfigError` saying how to set them)."""
    if not tokens and not is_loopback(host):
        raise ConfigError("api.tokens_required", host=host)


def token_matches(given: str, tokens: Sequence[str]) -> bool:
    """Constant-time against every token (no early exit), so timing tells nothing about any of them."""
    given_b = given.encode("utf-8", "replace")
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given_b, token.encode("utf-8"))
    return found


class BearerAuth:
    """ASGI middleware: with tokens, a request without a valid `Authorization: Bearer` gets 401."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str]):
        self.app = app
        self.tokens = tuple(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            code = "api.token_missing"
        elif not token_matches(given.strip(), self.tokens):
            code = "api.token_rejected"
        else:
            await self.app(scope, receive, send)
            return
        await error_response(headers, KBError(code))(scope, receive, send)
