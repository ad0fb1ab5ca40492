"""`/api/documents`: list, upload (multipart), delete; the results are the CLI's (`ingest --json`).

An upload is parsed by Starlette into temporary files (on disk past 1 MB), and each file goes to
the core as a `Source` with its size, so a file over [storage] max_file_mb is refused with the
CLI's per-file message before a byte of it is read into memory. The whole request is capped at
MAX_FILES files of that size (`UploadLimit`, counted as the body arrives), so an upload cannot
fill the disk with temporary files either.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.errors import KBError
from kb.ingest.pipeline import Source
from kb.api.errors import error_response, jsonable, request_lang

router = APIRouter(tags=["Knowledge base"])

MAX_FILES = 20  # files per upload request
UPLOAD_PATH = "/api/documents"

_KB = Query(None, description="The knowledge base (default: [storage] default_kb)")


@router.get("/api/documents", summary="The documents of a knowledge base")
def list_documents(request: Request, kb: str | None = _KB) -> dict[str, Any]:
    base = request.app.state.kbs.get(kb)
    return {"kb": base.name, "documents": jsonable([d.to_dict() for d in base.documents()])}


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": f"Up to {MAX_FILES} files: PDF, Markdown, text, Office, HTML, images"}}}}}}}


@router.post("/api/documents", summary="Upload files (multipart, field `files`); one result per file",
             response_model=None, openapi_extra=_UPLOAD_BODY)
async def upload(request: Request, kb: str | None = _KB) -> JSONResponse:
    lang = request_lang(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise KBError("api.not_multipart")
    async with request.form(max_files=1000, max_fields=1000) as form:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise KBError("api.no_files")
        if len(files) > MAX_FILES:
            raise KBError("api.too_many_files", n=len(files), limit=MAX_FILES)
        sources = [_source(f) for f in files]
        base = await run_in_threadpool(request.app.state.kbs.get, kb, True)
        report = await run_in_threadpool(base.ingest_sources, sources)
    data = report.to_dict()
    for entry, result in zip(data["files"], report.files):
        entry["error"] = result.error_message(lang)  # the CLI's message, in the request's language
    data["ok"] = report.ok
    return JSONResponse(jsonable(data), status_code=200 if report.ok else 422)


def _source(upload: UploadFile) -> Source:
    def read() -> bytes:
        upload.file.seek(0)
        return upload.file.read()

    return Source(upload.filename or "", upload.size or 0, read)


@router.delete("/api/documents/{name}", summary="Delete a document (by file name or id)")
def delete_document(name: str, request: Request, kb: str | None = _KB) -> dict[str, Any]:
    doc = request.app.state.kbs.get(kb).delete(name)
    return jsonable(doc.to_dict())


class UploadLimit:
    """ASGI middleware: an upload whose body passes the limit is refused (413) as soon as it does:
    at once from Content-Length, else while the body arrives."""

    def __init__(self, app: ASGIApp, limit_bytes: int, file_mb: float):
        self.app, self.limit, self.file_mb = app, limit_bytes, file_mb

    def _error(self) -> KBError:
        return KBError("api.upload_too_large", limit_mb=round(self.limit / 1e6), file_mb=f"{self.file_mb:g}",
                       files=MAX_FILES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != UPLOAD_PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await error_response(headers, self._error())(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise self._error()  # answered by the app's KBError handler
            return message

        await self.app(scope, counted, send)
