"""`/v1/chat/completions` and `/v1/models`: the knowledge bases as OpenAI models.

`model` names a knowledge base. The answer is the chat page's: `KnowledgeBase.reply` runs the same
turn (follow-up rewrite, hybrid retrieval with the docs-only gate, the token budget, citations),
with the request's earlier user/assistant messages as the history and nothing stored on the server.
System messages are left out: the grounding rules are ours, and a client's own system prompt
("You are a helpful assistant") must not loosen them.

Beyond OpenAI's shapes, `message.citations` (and `delta.citations` in the last streamed chunk) lists
every numbered source the prompt held, `used` when the answer cites it; `kb` says how the answer
came about (declined by the gate, general knowledge, rewritten question, notices).

No model (Ollama not running, model missing) is a 503 with our message and what to do, not the
chat page's "top passages instead": an API client wants to know that the answer is not an answer.
An answer that fails mid-way is an error too (502/504, the text so far in `error.partial`; when
streaming, an OpenAI-style `data: {"error": ...}` event after what had streamed).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator, Iterator, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response, StreamingResponse

from kb.errors import KBError
from kb.knowledge_base import KnowledgeBase
from kb.api.errors import error_body, jsonable, request_lang, status_for

router = APIRouter(tags=["OpenAI-compatible"])


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's request. Sampling fields (temperature, top_p, max_tokens, ...) are accepted and not
    used: the Modelfile sets them, and per-request runner options would make Ollama reload the model."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="The knowledge base to answer from (see GET /v1/models)")
    messages: list[Message] = Field(min_length=1, description="The conversation; the last one is the question")
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    mode: Literal["docs", "chat"] | None = Field(
        None, description="docs: only from the sources (default: [chat] mode); chat: may use general knowledge")


# ---------------------------------------------------------------- models


def _model(info: Any) -> dict[str, Any]:
    return {"id": info.name, "object": "model", "created": _epoch(info.created_at), "owned_by": "kb-studio",
            "kb": {"documents": info.n_documents, "chunks": info.n_chunks, "embedder": info.embedder}}


def _epoch(iso: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except (ValueError, AttributeError):
        return 0


@router.get("/v1/models", summary="The knowledge bases, as OpenAI models")
def list_models(request: Request) -> dict[str, Any]:
    infos = KnowledgeBase.list_all(request.app.state.kbs.settings)
    return {"object": "list", "data": [_model(i) for i in infos if not i.damaged]}


@router.get("/v1/models/{model}", summary="One knowledge base, as an OpenAI model")
def get_model(model: str, request: Request) -> dict[str, Any]:
    kb = request.app.state.kbs.model(model)
    return _model(kb.info())


# ---------------------------------------------------------------- chat


def split_messages(messages: list[Message]) -> tuple[str, list[dict[str, str]]]:
    """(question, history) from OpenAI messages: the last must be the user's; system ones are left out."""
    turns: list[dict[str, str]] = []
    for index, m in enumerate(messages, start=1):
        if m.role in ("system", "developer"):
            continue
        if m.role not in ("user", "assistant"):
            raise KBError("api.message_role_unsupported", index=index, role=repr(m.role)[:40])
        turns.append({"role": m.role, "content": _text(m.content, index)})
    if not turns or turns[-1]["role"] != "user":
        raise KBError("api.no_question")
    return turns[-1]["content"], turns[:-1]


def _text(content: str | list[dict[str, Any]] | None, index: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type")
        if kind != "text" or not isinstance(part.get("text"), str):
            raise KBError("api.content_not_text", index=index, kind=repr(kind)[:40])
        parts.append(part["text"])
    return "\n".join(parts)


def citations(answer: Any) -> list[dict[str, Any]]:
    """Every numbered source of the prompt: [n], where it is from, its fused score (higher is better)."""
    scores = {s.chunk.id: s.fused_score for s in answer.sources}
    out = []
    for c in answer.citations:
        ch = c.chunk
        out.append({"n": c.n, "used": c.used, "file": ch.file_name, "page": ch.page, "page_end": ch.page_end,
                    "heading_path": list(ch.heading_path), "chunk_id": ch.id, "doc_id": ch.doc_id,
                    "score": scores.get(ch.id), "locator": ch.locator, "text": ch.text})
    return out


def _about(answer: Any, lang: str) -> dict[str, Any]:
    return {"mode": answer.mode, "declined": answer.declined, "general_knowledge": answer.general_knowledge,
            "rewritten_question": answer.rewritten_question, "capped": answer.capped,
            "notices": [{"code": n.code, "params": dict(n.params), "message": n.message(lang)}
                        for n in answer.notices],
            "budget": answer.budget.to_dict() if answer.budget else None}


def _usage(answer: Any) -> dict[str, int]:
    u, b = answer.usage, answer.budget
    prompt = (u.prompt_tokens if u and u.prompt_tokens else None) or (b.total if b else 0)
    completion = (u.answer_tokens if u and u.answer_tokens else 0) or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _failure(answer: Any, lang: str) -> tuple[int, dict[str, Any]] | None:
    """The error response of an answer that is not one (no model, or Ollama failed), else None."""
    if not answer.error_code:
        return None
    status = status_for(answer.error_code)
    extra: dict[str, Any] = {}
    if answer.partial:
        extra["partial"] = {"content": answer.text, "citations": citations(answer)}
    body = error_body(answer.error_code, answer.error_params, lang, status, None, **extra)
    if answer.partial:
        body["error"]["message"] = answer.error_message(lang)
    return status, jsonable(body)


def _finish_reason(answer: Any) -> str:
    return "length" if answer.capped else "stop"


def _completion(answer: Any, model: str, lang: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "citations": citations(answer)}
    if answer.thinking:
        message["reasoning_content"] = answer.thinking
    return jsonable({"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                     "model": model, "choices": [{"index": 0, "message": message,
                                                  "finish_reason": _finish_reason(answer)}],
                     "usage": _usage(answer), "kb": _about(answer, lang)})


def _next(events: Iterator[Any]) -> Any:
    return next(events, None)  # never StopIteration: it cannot cross a thread pool's future


@router.post("/v1/chat/completions", summary="A grounded, cited answer (OpenAI chat completions; SSE when stream)",
             response_model=None)
async def chat_completions(body: ChatRequest, request: Request) -> Response:
    lang = request_lang(request)
    question, history = split_messages(body.messages)
    kb = await run_in_threadpool(request.app.state.kbs.model, body.model)
    model = kb.name
    events = kb.reply(question, history, body.mode, source="messages")
    head: list[Any] = []  # the events up to the first word of the answer, or the whole answer
    try:
        while True:
            event = await run_in_threadpool(_next, events)
            if event is None:
                raise RuntimeError("the chat stream ended without an answer event")
            if event.kind == "answer" or (event.kind == "token" and body.stream):
                head.append(event)
                break
            if body.stream:
                head.append(event)
    except BaseException:
        events.close()
        raise
    if head[-1].kind == "answer":
        answer = head[-1].answer
        failed = _failure(answer, lang)
        if failed is not None:
            return JSONResponse(failed[1], status_code=failed[0])
        if not body.stream:
            return JSONResponse(_completion(answer, model, lang))
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    return StreamingResponse(_sse(head, events, model, lang, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sse(head: list[Any], events: Iterator[Any], model: str, lang: str,
               include_usage: bool) -> AsyncIterator[str]:
    """OpenAI's chunks: the role first, the words as they come, then citations with finish_reason."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(jsonable(data), ensure_ascii=False)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        streamed = False
        pending = list(head)
        while True:
            event = pending.pop(0) if pending else await run_in_threadpool(_next, events)
            if event is None:
                raise RuntimeError("the chat stream ended without an answer event")
            if event.kind == "token":
                streamed = True
                yield chunk({"content": event.text})
            elif event.kind == "thinking":
                yield chunk({"reasoning_content": event.text})
            elif event.kind == "answer":
                answer = event.answer
                if not streamed and answer.text:  # declined: the fixed answer comes whole
                    yield chunk({"content": answer.text})
                yield chunk({"citations": citations(answer)}, _finish_reason(answer), kb=_about(answer, lang))
                failed = _failure(answer, lang)
                if failed is not None:
                    yield f"data: {json.dumps(failed[1], ensure_ascii=False)}\n\n"
                elif include_usage:  # OpenAI's usage chunk: no choices
                    usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                             "choices": [], "usage": _usage(answer)}
                    yield f"data: {json.dumps(usage)}\n\n"
                yield "data: [DONE]\n\n"
                return
    finally:
        events.close()  # a client that hangs up stops the answer: the HTTP call to Ollama is closed
