"""Errors as HTTP answers: our coded `KBError`s in the OpenAI error shape, in the request's language.

    {"error": {"message": "<rendered>", "type": "invalid_request_error", "param": "model",
               "code": "api.model_not_found", "params": {...}}}

`message` is what an OpenAI client shows (Open WebUI, the `openai` package's exception text);
`code` and `params` let a program act on it. The status comes from the code (a table here), so
every route answers the same error the same way.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from kb.errors import (EmbedderMismatch, KBError, KnowledgeBaseNotFound, ModelMissing, OllamaError, OllamaTimeout,
                      OllamaUnavailable, StoreError)
from kb.messages import LANGS, current_lang, render

_STATUS_BY_CODE = {
    "api.token_missing": 401, "api.token_rejected": 401,
    "api.not_found": 404, "api.model_not_found": 404, "kb.not_found": 404, "kb.document_not_found": 404,
    "kb.deleted": 404,
    "api.method_not_allowed": 405,
    "api.upload_too_large": 413,
    "api.not_multipart": 415,
    "api.internal": 500,
}


def status_for(code: str, exc: KBError | None = None) -> int:
    """The HTTP status of an error code (and of its class, for the Ollama and store families)."""
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if isinstance(exc, (OllamaUnavailable, ModelMissing)) or code in ("ollama.unreachable", "ollama.model_missing"):
        return 503  # the answer model is not there: retry when Ollama runs
    if isinstance(exc, OllamaTimeout) or code.startswith("ollama.deadline.") or code == "ollama.timeout":
        return 504
    if isinstance(exc, OllamaError) or code.startswith("ollama."):
        return 502
    if isinstance(exc, KnowledgeBaseNotFound):
        return 404
    if isinstance(exc, EmbedderMismatch):
        return 409
    if isinstance(exc, StoreError):
        return 503 if code == "store.lock_timeout" else 500
    return 400


def _kind(status: int) -> str:
    """OpenAI's error `type` for a status (clients branch on it)."""
    if status == 401:
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    if status >= 500:
        return "server_error" if status == 500 else "service_unavailable"
    return "invalid_request_error"


def request_lang(conn: HTTPConnection | Mapping[str, Any]) -> str:
    """zh or en from `Accept-Language` (by q-value; `zh-CN`, `zh-Hans` are zh), else the process language."""
    headers = conn.headers if isinstance(conn, HTTPConnection) else conn
    header = headers.get("accept-language", "") if headers else ""
    best: tuple[float, str] | None = None
    for i, part in enumerate(header.split(",")):
        tag, _, rest = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGS:
            continue
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        if not math.isfinite(q) or q <= 0:
            continue
        if best is None or q > best[0]:
            best = (q, lang)
    return best[1] if best else current_lang()


def error_body(code: str, params: Mapping[str, Any], lang: str, status: int, param: str | None = None,
               **extra: Any) -> dict[str, Any]:
    err = {"message": render(code, params, lang), "type": _kind(status), "param": param, "code": code,
           "params": dict(params)}
    err.update(extra)
    return {"error": err}


def error_response(conn: HTTPConnection | Mapping[str, Any], exc: KBError, param: str | None = None,
                   status: int | None = None, **extra: Any) -> JSONResponse:
    status = status or status_for(exc.code, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(exc.code, exc.params, request_lang(conn), status, param, **extra),
                        status_code=status, headers=headers)


def jsonable(value: Any) -> Any:
    """JSON any parser accepts: NaN and infinity become null (what `kb ... --json` prints too)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
