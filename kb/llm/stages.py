"""The model's part in a second retrieval stage: a question rewritten into search queries, and the
top candidates put in order (listwise). kb/search/second_stage.py decides when to ask and what to do
with the answer; this module only asks Ollama and reads the reply.

Each call is one non-streaming `/api/chat` with `format` set to a JSON schema (Ollama constrains the
output to it; a server or model that ignores it is read leniently: the first JSON object in the text,
`<think>` blocks and code fences removed) and temperature 0. Every call has a deadline: the time left
of the search's budget, for the whole request, so a slow or hung model costs at most the budget.
A reply that cannot be used raises `StageError("stage.<stage>.bad_reply")`; the caller keeps the first stage.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

import ollama

from kb.config import Settings
from kb.errors import StageError
from kb.llm.deadlines import Deadlines, client_kwargs
from kb.llm.ollama import ollama_errors
from kb.llm.prompting import strip_think

MAX_QUERIES = 3
MAX_QUERY_CHARS = 120
PASSAGE_CHARS = 320  # each candidate as the model sees it: enough to judge, small enough for 10 in num_ctx

REWRITE_SYSTEM = ("你帮助检索一个知识库。把用户的问题改写成最多 3 条检索查询：用文档里可能出现的说法、"
                  "同义词和关键术语，每条不超过 30 个字。不要回答问题。只输出 JSON。")
RERANK_SYSTEM = ("你为检索结果排序。按照每个段落对回答问题的帮助从大到小，给出段落编号的顺序。"
                 "只根据段落内容判断，不要回答问题。只输出 JSON。")
REWRITE_SCHEMA = {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
                  "required": ["queries"]}
RERANK_SCHEMA = {"type": "object", "properties": {"order": {"type": "array", "items": {"type": "integer"}}},
                 "required": ["order"]}

_FENCE = re.compile(r"```(?:json)?|```")


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in a model's reply (reasoning and code fences removed), or None."""
    answer, _ = strip_think(text)
    answer = _FENCE.sub("", answer)
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", answer)):
        try:
            value, _ = decoder.raw_decode(answer, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_queries(text: str, question: str) -> list[str]:
    """Up to MAX_QUERIES distinct queries from a rewrite reply, none equal to the question itself."""
    obj = first_json_object(text)
    raw = obj.get("queries") if obj else None
    if not isinstance(raw, list):
        raise StageError("stage.rewrite.bad_reply", reply=text[:200])
    seen = {question.strip()}
    out: list[str] = []
    for q in raw:
        if isinstance(q, str) and q.strip() and q.strip() not in seen:
            seen.add(q.strip())
            out.append(q.strip()[:MAX_QUERY_CHARS])
    if not out:
        raise StageError("stage.rewrite.bad_reply", reply=text[:200])
    return out[:MAX_QUERIES]


def parse_order(text: str, n: int) -> list[int]:
    """A permutation of range(n) from a rerank reply (1-based numbers): the numbers given, in their
    order, then every candidate the reply left out, in its first-stage order. Needs one valid number."""
    obj = first_json_object(text)
    raw = obj.get("order") if obj else None
    if not isinstance(raw, list):
        raise StageError("stage.rerank.bad_reply", reply=text[:200])
    order: list[int] = []
    for v in raw:
        if isinstance(v, bool):
            continue
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if isinstance(v, int) and 1 <= v <= n and v - 1 not in order:
            order.append(v - 1)
    if not order:
        raise StageError("stage.rerank.bad_reply", reply=text[:200])
    return order + [i for i in range(n) if i not in order]


def rerank_prompt(question: str, passages: Sequence[str]) -> str:
    lines = [f"问题：{question}", "", "段落："]
    for i, p in enumerate(passages, start=1):
        lines.append(f"[{i}] " + " ".join(p.split())[:PASSAGE_CHARS])
    lines += ["", f"输出格式：{{\"order\": [最有帮助的段落编号, …]}}（编号 1 到 {len(passages)}）"]
    return "\n".join(lines)


def rewrite_prompt(question: str, previous: str = "") -> str:
    context = f"上一轮对话：{previous}\n" if previous else ""
    return f"{context}问题：{question}\n\n输出格式：{{\"queries\": [\"查询1\", \"查询2\"]}}"


class LLMStages:
    """Asks the configured Ollama model; every failure is a KBError (OllamaError or StageError)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._thinks: bool | None = None  # the model lists `thinking` in /api/show (asked once)

    def _can_think(self, seconds: float) -> bool:
        """Whether to send `think: false` (a thinking model would otherwise reason first, inline)."""
        if self._thinks is None:
            from kb.llm.ollama import OllamaAdmin

            o = self.settings.ollama
            with OllamaAdmin(o.url, timeout=seconds, connect_timeout=min(o.connect_timeout, seconds)) as admin:
                self._thinks = "thinking" in admin.show(o.model).capabilities
        return self._thinks

    def _ask(self, system: str, user: str, schema: dict[str, Any], seconds: float) -> str:
        o = self.settings.ollama
        deadlines = Deadlines(connect=min(o.connect_timeout, seconds), first_byte=seconds, idle=seconds,
                              total=seconds)
        think = {"think": False} if self._can_think(seconds) else {}
        client = ollama.Client(host=o.url, **client_kwargs(deadlines))
        try:
            with ollama_errors(o.url, "/api/chat", model=o.model, timeout=seconds,
                               connect_timeout=o.connect_timeout):
                reply = client.chat(model=o.model, stream=False, format=schema, keep_alive=o.keep_alive, **think,
                                    messages=[{"role": "system", "content": system},
                                              {"role": "user", "content": user}],
                                    options={"temperature": 0, "num_predict": 256})
        finally:
            client._client.close()
        return reply.message.content or ""

    def rewrite(self, question: str, previous: str, seconds: float) -> list[str]:
        return parse_queries(self._ask(REWRITE_SYSTEM, rewrite_prompt(question, previous), REWRITE_SCHEMA, seconds),
                             question)

    def rerank(self, question: str, passages: Sequence[str], seconds: float) -> list[int]:
        return parse_order(self._ask(RERANK_SYSTEM, rerank_prompt(question, passages), RERANK_SCHEMA, seconds),
                           len(passages))
