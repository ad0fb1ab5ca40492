"""The FastAPI application: routes, error handlers, authentication, the upload limit, the docs page.

Built by `create_app(settings)`, which opens nothing: knowledge bases are opened on first use
(kb/api/pool.py) and closed when the server stops. Every error leaves as our coded error in the
OpenAI shape (kb/api/errors.py), whatever raised it: the core, FastAPI's request validation,
Starlette's routing, or a bug (500, logged with its traceback).
"""
from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse

from kb.config import Settings
from kb.errors import KBError
from kb.api import chat, docs, documents, search
from kb.api.auth import BearerAuth
from kb.api.errors import error_response
from kb.api.pool import KnowledgeBases

log = logging.getLogger(__name__)

DESCRIPTION = ("KB Studio's knowledge bases over HTTP. `model` in /v1/chat/completions names a knowledge base; "
               "answers are grounded in its documents and carry their citations (message.citations). "
               "Authentication: `Authorization: Bearer <token>` when [api] tokens are set.")


def create_app(settings: Settings) -> FastAPI:
    kbs = KnowledgeBases(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            kbs.close()

    app = FastAPI(title="KB Studio API", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=lifespan)
    app.state.kbs = kbs
    for module in (chat, search, documents):
        app.include_router(module.router)

    @app.get("/docs", include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(docs.page(app.openapi()))

    @app.exception_handler(KBError)
    async def kb_error(request: Request, exc: KBError) -> JSONResponse:
        if exc.code == "kb.deleted" and "name" in exc.params:
            kbs.forget(str(exc.params["name"]))  # the next request opens it afresh
        param = "model" if exc.code == "api.model_not_found" else None
        return error_response(request, exc, param)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        if first.get("type") == "json_invalid":
            return error_response(request, KBError("api.body_not_json", reason=first.get("msg", "")))
        return error_response(request, KBError("api.bad_request", field=where, reason=first.get("msg", "")),
                              param=where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        method, path = request.method, request.url.path
        if exc.status_code == 404:
            err = KBError("api.not_found", method=method, path=path)
        elif exc.status_code == 405:
            err = KBError("api.method_not_allowed", method=method, path=path)
        else:  # e.g. a malformed multipart body
            err = KBError("api.bad_request", field="body", reason=str(exc.detail))
        return error_response(request, err, status=exc.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api internal error path=%s", request.url.path)
        return error_response(request, KBError("api.internal", kind=type(exc).__name__))

    max_file = int(settings.storage.max_file_mb * 1_000_000)
    app.add_middleware(documents.UploadLimit, limit_bytes=documents.MAX_FILES * max_file + 1_000_000,
                       file_mb=settings.storage.max_file_mb)
    app.add_middleware(BearerAuth, tokens=settings.api.tokens)  # added last: outermost, before anything else
    return app
