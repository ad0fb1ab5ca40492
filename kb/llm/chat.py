"""Multi-turn, grounded chat: an LCEL chain over ChatOllama with ConversationBufferMemory.

One turn:
1. follow-up rewriting: with history and a pronoun-like reference, the model is asked for a
   standalone question (skipped on first turns and questions that stand alone);
2. hybrid retrieval with the relevance gate;
3. docs-only mode with nothing relevant: a fixed answer plus the nearest misses, no model call;
4. the prompt is budgeted with Qwen's tokenizer: rules + numbered sources + as much recent
   history as fits + question <= num_ctx (read from Ollama) - answer reserve;
5. the answer streams token by token; citations [n] are mapped back to chunks;
6. the exchange is saved (SQLite) as it streams: stored when the stream starts, updated as tokens
   arrive, marked complete or interrupted at the end (see kb/llm/sessions.py); the session's
   ConversationBufferMemory is reloaded from those rows.

Bounds: a question longer than its share of the context is cut (both ends kept) with a notice;
every Ollama call has connect / first-byte / idle / total deadlines (kb/llm/deadlines.py); an answer
stops at [ollama] max_answer_tokens (sent as num_predict, and enforced while reading). A model
that can think (qwen3) is asked with `think: false` unless [ollama] think is on; any reasoning,
sent apart or inline as <think>…</think>, is kept out of the answer, its citations and the history.

No per-request runner options (num_ctx, num_gpu, ...) are sent: they would make Ollama reload
the model. The Modelfile sets them; we read the real context length from Ollama.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

from kb.config import Settings
from kb.errors import GenerationError, KBError, ModelMissing, OllamaError, OllamaUnavailable, StoreError
from kb.llm.prompting import (Budget, BuiltPrompt, ThinkFilter, build_prompt, cited_numbers, clean_rewrite,
                        decline_text, fallback_text, fit_question, question_limit, rewrite_messages,
                        validate_history)
from kb.search.retrieval import ScoredChunk, SearchResult, is_follow_up
from kb.llm.sessions import SessionInfo, SessionStore, valid_session_name
from kb.llm.tokens import TokenCounter
from kb.types import Chunk

log = logging.getLogger(__name__)

_MAX_CACHED_SESSIONS = 64


@dataclass(frozen=True)
class Citation:
    n: int  # the number in the prompt: [n]
    chunk: Chunk
    used: bool  # the answer cites it

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "used": self.used, "locator": self.chunk.locator, "chunk": self.chunk.to_dict()}


@dataclass(frozen=True)
class Usage:
    ttft_s: float | None  # time to first token
    tokens_per_s: float | None  # Ollama's eval_count / eval_duration
    prompt_tokens: int | None  # Ollama's prompt_eval_count
    answer_tokens: int | None  # Ollama's eval_count
    total_s: float


@dataclass(frozen=True)
class Notice:
    """Something the user should know about an answer (the question was cut, the answer hit its cap,
    the history could not be saved): a message code and parameters, rendered in the reader's language."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str | None = None) -> str:
        from kb.messages import render

        return render(self.code, self.params, lang)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params), "message": self.message()}

    @staticmethod
    def from_dict(d: Any) -> "Notice | None":
        """A stored notice; None for one this version has no message for (it is then not shown)."""
        from kb.messages import CATALOG

        code = d.get("code") if isinstance(d, dict) else None
        if not isinstance(code, str) or code not in CATALOG:
            log.info("stored notice dropped code=%r", code)
            return None
        params = d.get("params")
        return Notice(code, dict(params) if isinstance(params, dict) else {})


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    mode: str  # docs | chat
    session: str
    citations: tuple[Citation, ...] = ()
    sources: tuple[ScoredChunk, ...] = ()  # what the prompt held (or nearest misses when declined)
    rewritten_question: str | None = None
    budget: Budget | None = None
    usage: Usage | None = None
    declined: bool = False  # docs-only and nothing relevant: fixed answer, no model call
    fallback: bool = False  # no model (Ollama unreachable / model missing): the top passages instead
    general_knowledge: bool = False  # chat mode answered without sources
    error: str | None = None  # what went wrong (the partial answer, if any, is kept in `text`)
    error_code: str | None = None  # the same as a message code and parameters, for the reader's language
    error_params: dict[str, Any] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()  # shown with the answer: question cut, answer capped, history not saved
    capped: bool = False  # the answer stopped at [ollama] max_answer_tokens
    partial: bool = False  # Ollama failed after part of the answer arrived: `text` holds what came
    thinking: str = ""  # a thinking model's reasoning: shown apart; never in `text`, citations or history

    @property
    def used_citations(self) -> tuple[Citation, ...]:
        return tuple(c for c in self.citations if c.used)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "text": self.text, "mode": self.mode, "session": self.session,
            "citations": [c.to_dict() for c in self.citations],
            "sources": [s.to_dict() for s in self.sources], "rewritten_question": self.rewritten_question,
            "budget": self.budget.to_dict() if self.budget else None,
            "usage": asdict(self.usage) if self.usage else None, "declined": self.declined,
            "fallback": self.fallback, "general_knowledge": self.general_knowledge, "error": self.error,
            "error_code": self.error_code, "error_params": dict(self.error_params),
            "notices": [n.to_dict() for n in self.notices], "capped": self.capped, "partial": self.partial,
            "thinking": self.thinking}

    def error_message(self, lang: str | None = None) -> str | None:
        """`error` in the language asked for (stored answers from before codes keep their text)."""
        from kb.messages import CATALOG, render

        if self.error_code is None or self.error_code not in CATALOG:
            return self.error
        text = render(self.error_code, self.error_params, lang)
        if self.partial:
            text = render("chat.answer_incomplete", {"error": text}, lang)
        return text

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Answer":
        budget = d.get("budget")
        if budget:
            budget = Budget(**{k: v for k, v in budget.items() if k in Budget.__dataclass_fields__})
        return Answer(
            question=d.get("question", ""), text=d.get("text", ""), mode=d.get("mode", "docs"),
            session=d.get("session", ""),
            citations=tuple(Citation(c["n"], _chunk(c["chunk"]), c["used"]) for c in d.get("citations", [])),
            sources=tuple(_scored(s) for s in d.get("sources", [])), rewritten_question=d.get("rewritten_question"),
            budget=budget, usage=Usage(**d["usage"]) if d.get("usage") else None, declined=d.get("declined", False),
            fallback=d.get("fallback", False), general_knowledge=d.get("general_knowledge", False),
            error=d.get("error"), error_code=d.get("error_code"), error_params=dict(d.get("error_params") or {}),
            notices=tuple(n for n in map(Notice.from_dict, d.get("notices") or ()) if n is not None), capped=bool(d.get("capped")), partial=bool(d.get("partial")),
            thinking=str(d.get("thinking") or ""))


def _chunk(d: dict[str, Any]) -> Chunk:
    return Chunk.from_dict(d)


def _scored(d: dict[str, Any]) -> ScoredChunk:
    fields = {k: v for k, v in d.items() if k in ScoredChunk.__dataclass_fields__}
    fields["chunk"] = _chunk(d["chunk"])
    fields["matched_terms"] = tuple(fields.get("matched_terms") or ())
    return ScoredChunk(**fields)


@dataclass(frozen=True)
class ChatEvent:
    kind: str  # notice | rewritten | sources | thinking | token | answer
    text: str = ""
    sources: tuple[ScoredChunk, ...] = ()
    answer: Answer | None = None
    notice: Notice | None = None  # kind "notice": show it now (it is also in the answer's notices)


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    answer: Answer | None = None
    state: str = "complete"  # complete | streaming | interrupted (the reader left before the answer ended)


@dataclass(frozen=True)
class PromptPreview:
    messages: list[dict[str, str]]
    budget: Budget
    search: SearchResult
    declined: bool  # docs-only would decline this question without calling the model


SearchFn = Callable[..., SearchResult]


class ChatService:
    """Chat over one knowledge base. Holds the chat model, the token counter and session memory."""

    def __init__(self, settings: Settings, search: SearchFn, sessions: SessionStore, llm: Any,
                 counter: TokenCounter, context_length: Callable[[], int | None]):
        self.settings = settings
        self._search = search
        self.sessions = sessions
        self.llm = llm
        self.counter = counter
        self._context_length = context_length
        self._memories: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._chain_cache: dict[bool | None, tuple[Any, Any]] = {}
        self._thinking: tuple[bool | None, float] | None = None  # (model can think, when asked)
        self.save_interval = 0.5  # seconds between saves of a streaming answer

    # ------------------------------------------------------------------ memory

    def _memory(self, session: str):
        """The session's ConversationBufferMemory, (re)loaded from SQLite when the stored turns changed."""
        stored = self._model_turns(session)
        with self._lock:
            memory = self._memories.get(session)
            if memory is None or _memory_turns(memory) != stored:
                memory = _new_memory()
                for t in stored:
                    if t["role"] == "user":
                        memory.chat_memory.add_user_message(t["content"])
                    else:
                        memory.chat_memory.add_ai_message(t["content"])
                self._memories.pop(session, None)
                self._memories[session] = memory
                while len(self._memories) > _MAX_CACHED_SESSIONS:  # SQLite holds them all; memory keeps the recent
                    self._memories.pop(next(iter(self._memories)))
        return memory

    def _model_turns(self, session: str) -> list[dict[str, str]]:
        """The stored conversation the model may see: validated, without answers still streaming or empty."""
        stored = self.sessions.turns(session)
        turns = validate_history([{"role": t.role, "content": t.content} for t in stored],
                                 source=f"{self.sessions.path} ({session})")
        kept: list[dict[str, str]] = []
        for turn, row in zip(turns, stored):
            if turn["role"] == "assistant" and (row.state == "streaming" or not turn["content"].strip()):
                if kept and kept[-1]["role"] == "user":
                    kept.pop()  # an exchange without an answer is not history yet
                continue
            kept.append(turn)
        return kept

    def history(self, session: str) -> list[dict[str, str]]:
        messages = self._memory(session).load_memory_variables({})["history"]
        return [{"role": "user" if m.type == "human" else "assistant", "content": str(m.content)} for m in messages]

    def turns(self, session: str) -> list[Turn]:
        """The stored conversation for display (an answer's data that cannot be read shows as its text)."""
        out = []
        for t in self.sessions.turns(session):
            content = t.content if isinstance(t.content, str) else str(t.content)
            out.append(Turn(t.role, content, _stored_answer(t.data, session), t.state))
        return out

    def list_sessions(self) -> list[SessionInfo]:
        return self.sessions.list()

    def delete_session(self, session: str) -> None:
        self.sessions.delete(session)
        with self._lock:
            self._memories.pop(session, None)

    # ------------------------------------------------------------------ one turn

    def preview(self, question: str, session: str | None = None, mode: str | None = None) -> PromptPreview:
        """The prompt chat would send for this question (retrieval without LLM rewriting), and its budget."""
        question, mode = self._asked(question, mode)
        question, _ = self._fit_question(question, mode)
        history = self.history(session) if session else []
        result = self._search(question, history=history)
        relevant = result.relevant
        built = self._build(question, relevant, history, mode)
        return PromptPreview(built.messages, built.budget, result, declined=mode == "docs" and not relevant)

    def stream(self, question: str, session: str = "default", mode: str | None = None) -> Iterator[ChatEvent]:
        """One turn as events. The exchange is saved when the stream starts, updated as tokens arrive
        (every `save_interval` seconds) and marked complete at the end, or interrupted when the reader
        closes the generator (a Streamlit rerun) or the turn fails. A failed save never costs the answer:
        it comes with a `chat.history_not_saved` notice."""
        question, mode = self._asked(question, mode)
        if not valid_session_name(session):
            raise KBError("session.name_invalid", name=session)
        question, cut = self._fit_question(question, mode)
        if cut is not None:
            yield ChatEvent("notice", notice=cut)
        history = self.history(session)
        recorder = _Recorder(self.sessions, session, question, self.save_interval)
        finished = False
        try:
            answer = yield from self._turn(question, session, mode, history, recorder)
            if cut is not None:
                answer = dataclasses.replace(answer, notices=(cut, *answer.notices))
            answer = recorder.finish(answer)
            finished = True
        finally:
            if not finished:
                recorder.interrupt(question, mode)
        self._remember(session, answer)
        yield ChatEvent("answer", answer=answer)

    def reply(self, question: str, history: Sequence[dict[str, str]], mode: str | None = None,
              source: str = "request") -> Iterator[ChatEvent]:
        """One turn over a conversation the caller keeps (the HTTP API: the request's messages are the
        history). The same steps as `stream` (rewrite, gate, budget, citations); nothing is stored, so
        two clients never see each other's turns. `source` names where the history came from in errors."""
        question, mode = self._asked(question, mode)
        history = validate_history(list(history) if isinstance(history, (list, tuple)) else history, source=source)
        question, cut = self._fit_question(question, mode)
        if cut is not None:
            yield ChatEvent("notice", notice=cut)
        answer = yield from self._turn(question, "", mode, history, _Unrecorded())
        if cut is not None:
            answer = dataclasses.replace(answer, notices=(cut, *answer.notices))
        yield ChatEvent("answer", answer=answer)

    def _asked(self, question: str | None, mode: str | None) -> tuple[str, str]:
        """The question (stripped, not empty) and the mode (given or configured, docs or chat), checked."""
        question = (question or "").strip()
        if not question:
            raise KBError("chat.question_empty")
        mode = mode or self.settings.chat.mode
        if mode not in ("docs", "chat"):
            raise KBError("chat.mode_unknown", mode=repr(mode))
        return question, mode

    def _turn(self, question: str, session: str, mode: str, history: list[dict[str, str]],
              recorder: "_Recorder"):
        started = time.monotonic()

        rewritten, rewrite_error = None, None
        if history and is_follow_up(question, history):
            try:
                rewritten = self._rewrite(question, history)
                yield ChatEvent("rewritten", text=rewritten)
            except OllamaError as exc:
                rewrite_error = exc  # retrieval falls back to expanding the question with the history
                log.warning("rewrite failed session=%s error=%s", session, exc)
        result = self._search(rewritten, history=[]) if rewritten else self._search(question, history=history)
        relevant = result.relevant
        base = dict(question=question, mode=mode, session=session, rewritten_question=rewritten)

        if isinstance(rewrite_error, (OllamaUnavailable, ModelMissing)):
            answer = self._fallback(base, result, rewrite_error)
        elif mode == "docs" and not relevant:
            nearest = result.results[:3]
            yield ChatEvent("sources", sources=nearest)
            answer = Answer(text=decline_text(nearest), sources=nearest, declined=True, **base)
        else:
            yield ChatEvent("sources", sources=relevant)
            answer = yield from self._generate(base, question, relevant, history, result, started, recorder)
        return answer

    def ask(self, question: str, session: str = "default", mode: str | None = None) -> Answer:
        answer = None
        for event in self.stream(question, session, mode):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    # ------------------------------------------------------------------ steps

    def _rewrite(self, question: str, history: Sequence[dict[str, str]]) -> str:
        from kb.llm.ollama import ollama_errors

        url = self.settings.ollama.url
        with ollama_errors(url, "/api/chat (rewrite)", model=self.settings.ollama.model,
                           timeout=self.settings.ollama.timeout,
                           connect_timeout=self.settings.ollama.connect_timeout):
            text = self._chains()[1].invoke({"messages": _lc_messages(rewrite_messages(question, history))})
        return clean_rewrite(text, question)

    def _chains(self) -> tuple[Any, Any]:
        """The answer and rewrite chains, with `think` set for a model that can think (qwen3): false unless
        [ollama] think is on. Other models get no `think` at all (an old Ollama would not know it)."""
        think = self.settings.ollama.think if self._can_think() else None
        chains = self._chain_cache.get(think)
        if chains is None:
            llm = self.llm.bind(reasoning=think) if think is not None else self.llm
            rewrite = self.llm.bind(reasoning=False) if think is not None else self.llm
            chains = self._chain_cache[think] = (_build_chains(llm)[0], _build_chains(rewrite)[1])
        return chains

    def _can_think(self) -> bool | None:
        """Whether the model lists the `thinking` capability in /api/show (cached a minute; None: unknown)."""
        now = time.monotonic()
        if self._thinking is not None and now - self._thinking[1] < 60:
            return self._thinking[0]
        from kb.llm.ollama import OllamaAdmin

        o = self.settings.ollama
        try:
            with OllamaAdmin(o.url, timeout=min(o.timeout, 5.0), connect_timeout=o.connect_timeout) as admin:
                value: bool | None = "thinking" in admin.show(o.model).capabilities
        except OllamaError as exc:
            log.info("model capabilities unknown reason=%s", exc)
            value = None
        self._thinking = (value, now)
        return value

    def _fit_question(self, question: str, mode: str) -> tuple[str, Notice | None]:
        """Cut an over-long question to its share of the context (before retrieval sees it), with a notice."""
        num_ctx, reserve = self._window()
        text, cut = fit_question(question, self.counter, question_limit(self.counter, num_ctx, reserve, mode))
        if cut is None:
            return question, None
        log.warning("question cut tokens=%d limit=%d kept=%d", cut.tokens, cut.limit, cut.kept)
        return text, Notice("chat.question_cut", cut.params(num_ctx))

    def _window(self) -> tuple[int, int]:
        """num_ctx (Ollama's, else [chat] num_ctx) and the tokens kept free for the answer."""
        num_ctx = self._context_length() or self.settings.chat.num_ctx
        return num_ctx, min(self.settings.chat.answer_reserve, num_ctx // 2 - 1)

    def _build(self, question: str, relevant: Sequence[ScoredChunk], history: Sequence[dict[str, str]],
               mode: str) -> BuiltPrompt:
        num_ctx, reserve = self._window()
        return build_prompt(question, relevant, history, self.counter, num_ctx, reserve, mode)

    def _generate(self, base: dict[str, Any], question: str, relevant: Sequence[ScoredChunk],
                  history: Sequence[dict[str, str]], result: SearchResult, started: float, recorder: "_Recorder"):
        from kb.llm.ollama import ollama_errors

        built = self._build(question, relevant, history, base["mode"])
        inputs = {"messages": _lc_messages(built.messages)}
        cap = max(1, min(self.settings.ollama.max_answer_tokens, built.budget.reserve))
        parts: list[str] = []
        thoughts: list[str] = []
        think = ThinkFilter()
        pieces = 0  # what Ollama counts against num_predict: answer and reasoning alike
        first_token_at: float | None = None
        final_meta: dict[str, Any] = {}
        failure: OllamaError | None = None
        capped = False
        try:
            with ollama_errors(self.settings.ollama.url, "/api/chat", model=self.settings.ollama.model,
                               timeout=self.settings.ollama.timeout,
                               connect_timeout=self.settings.ollama.connect_timeout, midstream=GenerationError):
                stream = self._chains()[0].stream(inputs)
                try:
                    for chunk in stream:
                        text = chunk.content if isinstance(chunk.content, str) else ""
                        reasoning = (getattr(chunk, "additional_kwargs", None) or {}).get("reasoning_content") or ""
                        if (text or reasoning) and pieces >= cap:
                            capped = True  # a piece past num_predict: the server ignores it, stop reading
                            break
                        pieces += bool(text) + bool(reasoning)
                        visible, thought = think.feed(text) if text else ("", "")
                        for piece in (reasoning, thought):
                            if piece:  # shown apart, never cited, counted or saved as history
                                thoughts.append(piece)
                                yield ChatEvent("thinking", text=piece)
                        if visible:
                            if first_token_at is None:
                                first_token_at = time.monotonic()
                            parts.append(visible)
                            recorder.token(visible)
                            yield ChatEvent("token", text=visible)
                        if getattr(chunk, "response_metadata", None):
                            final_meta.update(chunk.response_metadata)
                finally:
                    stream.close()  # closes the HTTP response, so Ollama stops generating
                visible, thought = think.flush()
                if thought:
                    thoughts.append(thought)
                    yield ChatEvent("thinking", text=thought)
                if visible:
                    parts.append(visible)
                    recorder.token(visible)
                    yield ChatEvent("token", text=visible)
        except (OllamaUnavailable, ModelMissing) as exc:
            if not parts:
                return self._fallback(base, result, exc, built)
            failure = exc
        except OllamaError as exc:
            failure = self._with_memory_hint(exc)
        capped = capped or final_meta.get("done_reason") == "length"
        notices = (Notice("chat.answer_capped", {"limit": cap}),) if capped else ()
        text = "".join(parts)
        partial = bool(failure and text)
        error = None
        if failure is not None:
            error = KBError("chat.answer_incomplete", error=failure.message()).message() if partial else str(failure)
            if not text:
                text = f"回答失败：{failure}"
        used = set(cited_numbers(text, len(built.sources)))
        citations = tuple(Citation(n, r.chunk, n in used) for n, r in enumerate(built.sources, start=1))
        usage = _usage(final_meta, started, first_token_at)
        return Answer(text=text, citations=citations, sources=built.sources, budget=built.budget, usage=usage,
                      general_knowledge=base["mode"] == "chat" and not built.sources, error=error,
                      error_code=failure.code if failure else None,
                      error_params=dict(failure.params) if failure else {}, notices=notices, capped=capped,
                      partial=partial, thinking="".join(thoughts).strip(), **base)

    def _with_memory_hint(self, exc: OllamaError) -> OllamaError:
        """An out-of-memory or memory-layout error with the fit check's numbers for this card and model:
        the context length that fits, or the model that does (kb/llm/fit.py `memory_hint`)."""
        if exc.code not in ("ollama.out_of_memory", "ollama.memory_layout"):
            return exc
        from kb.llm.fit import memory_hint

        num_ctx, _ = self._window()
        hint = memory_hint(self.settings, num_ctx)
        if hint is None:
            return exc
        variant = "ctx_and_model" if hint.num_ctx and hint.model else "ctx" if hint.num_ctx else "model"
        return type(exc)(f"{exc.code}.{variant}", **exc.params, num_ctx=hint.num_ctx, current=num_ctx,
                         model=hint.model, free_gib=hint.free_gib)

    def _fallback(self, base: dict[str, Any], result: SearchResult, reason: KBError,
                  built: BuiltPrompt | None = None) -> Answer:
        """No model: return the most relevant passages, clearly labelled, with citations."""
        passages = result.relevant or result.results[: self.settings.retrieval.k]
        citations = tuple(Citation(n, r.chunk, True) for n, r in enumerate(passages, start=1))
        return Answer(text=fallback_text(str(reason), passages), citations=citations, sources=tuple(passages),
                      budget=built.budget if built else None, fallback=True, error=str(reason),
                      error_code=reason.code, error_params=dict(reason.params), **base)

    def _remember(self, session: str, answer: Answer) -> None:
        memory = self._memory(session)  # reloads from SQLite, which now holds the exchange
        log.info("chat turn session=%s turns=%d declined=%s fallback=%s error=%s", session,
                 len(memory.chat_memory.messages), answer.declined, answer.fallback, bool(answer.error))


class _Recorder:
    """Saves one exchange while it streams; a save that fails becomes a notice, never a lost answer."""

    def __init__(self, sessions: SessionStore, session: str, question: str, interval: float):
        self.sessions, self.session, self.question, self.interval = sessions, session, question, interval
        self.text = ""
        self.turn_id: int | None = None
        self.failure: StoreError | None = None
        self._saved_at = time.monotonic()
        try:
            self.turn_id = sessions.begin_exchange(session, question)
        except StoreError as exc:
            self._failed(exc)

    def _failed(self, exc: StoreError) -> None:
        self.failure = exc
        log.warning("chat history not saved session=%s error=%s", self.session, exc)

    def token(self, piece: str) -> None:
        self.text += piece
        now = time.monotonic()
        if self.turn_id is not None and now - self._saved_at >= self.interval:
            self._saved_at = now
            try:
                self.sessions.update_answer(self.turn_id, self.text)
            except StoreError as exc:
                self._failed(exc)

    def finish(self, answer: Answer) -> Answer:
        """Mark the exchange complete with the whole answer; returns it, with a notice if that failed."""
        try:
            if self.turn_id is None:
                self.sessions.add_exchange(self.session, self.question, answer.text, answer.to_dict())
            else:
                self.sessions.update_answer(self.turn_id, answer.text, answer.to_dict(), state="complete")
            self.failure = None
        except StoreError as exc:
            self._failed(exc)
        if self.failure is None:
            return answer
        notice = Notice("chat.history_not_saved", {"path": str(self.sessions.path),
                                                   "error": self.failure.params.get("error", "")})
        return dataclasses.replace(answer, notices=(*answer.notices, notice))

    def interrupt(self, question: str, mode: str) -> None:
        """The reader went away (or the turn failed): keep what streamed, marked interrupted."""
        if self.turn_id is None:
            return
        data = {"question": question, "text": self.text, "mode": mode, "session": self.session,
                "interrupted": True}
        try:
            self.sessions.update_answer(self.turn_id, self.text, data, state="interrupted")
        except StoreError as exc:
            self._failed(exc)
        log.info("chat turn interrupted session=%s chars=%d", self.session, len(self.text))


class _Unrecorded:
    """The recorder of a turn whose conversation the caller keeps (`ChatService.reply`): saves nothing."""

    def token(self, piece: str) -> None:
        return None


def _memory_turns(memory) -> list[dict[str, str]]:
    return [{"role": "user" if m.type == "human" else "assistant", "content": m.content}
            for m in memory.chat_memory.messages]


def _stored_answer(data: dict[str, Any] | None, session: str) -> Answer | None:
    if not data:
        return None
    try:
        return Answer.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("stored answer unreadable session=%s error=%s", session, exc)
        return None


def _new_memory():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConversationBufferMemory is deprecated in LangChain 1.x but works
        from langchain_classic.memory import ConversationBufferMemory

        return ConversationBufferMemory(return_messages=True, memory_key="history", input_key="input",
                                        output_key="output")


def _lc_messages(messages: Sequence[dict[str, str]]):
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in messages]


def _build_chains(llm: Any):
    """LCEL: prompt | model for answers (streamed), prompt | model | parser for rewrites."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("messages")])
    return prompt | llm, prompt | llm | StrOutputParser()


def _usage(meta: dict[str, Any], started: float, first_token_at: float | None) -> Usage:
    eval_count = meta.get("eval_count")
    eval_duration = meta.get("eval_duration")
    tps = eval_count / eval_duration * 1e9 if eval_count and eval_duration else None
    return Usage(ttft_s=round(first_token_at - started, 3) if first_token_at else None,
                 tokens_per_s=round(tps, 2) if tps else None, prompt_tokens=meta.get("prompt_eval_count"),
                 answer_tokens=eval_count, total_s=round(time.monotonic() - started, 3))
