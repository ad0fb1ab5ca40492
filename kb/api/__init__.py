"""The HTTP API: `python -m kb serve`. An OpenAI-compatible chat over a knowledge base, search,
documents, an offline docs page; the same `KnowledgeBase` facade the pages and the CLI call.

    app.py        the FastAPI app: routes, error handlers, middleware
    auth.py       loopback without tokens, bearer tokens otherwise
    chat.py       /v1/chat/completions, /v1/models
    search.py     /api/search
    documents.py  /api/documents (list, upload, delete)
    docs.py       /docs, drawn from /openapi.json
    errors.py     coded errors as OpenAI-shaped JSON, in the request's language
    pool.py       the open knowledge bases
"""
from __future__ import annotations

import logging
import socket
from typing import Callable

from kb.config import Settings
from kb.errors import ConfigError
from kb.api.app import create_app
from kb.api.auth import is_loopback, require_tokens

__all__ = ["create_app", "serve", "is_loopback"]

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so a taken port is our message, not a traceback."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError("api.port_in_use", host=host, port=port, reason=exc.strerror or str(exc)) from exc
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000,
          announce: Callable[[str], None] | None = None, log_level: str = "info") -> None:
    """Serve until interrupted. Refuses (ConfigError) to listen beyond loopback without [api] tokens."""
    import uvicorn

    require_tokens(host, settings.api.tokens)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound_port}"
    log.info("api serving url=%s auth=%s", url, bool(settings.api.tokens))
    if announce is not None:
        announce(url)
    config = uvicorn.Config(create_app(settings), log_level=log_level, lifespan="on", server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
