"""The chat page's answer as it streams, and the marks on stored turns.

While an answer streams, the core's events are drawn in place: notices (a question cut to the
budget) at once, the model's reasoning in a collapsed expander of its own, the answer's words as
they come. The text is escaped piece by piece (`render.answer_md`); everything else goes through
`ui.safe` like the rest of the app.

A click while an answer streams makes Streamlit stop this run (a `RerunException` raised where the
next piece is drawn). The page closes the core's generator right there, in the script thread, so
the core marks the stored exchange interrupted before the next run reads the conversation: the
question and what had arrived are there, marked "interrupted" (`turn_mark`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

import streamlit as st

from ui import render
from ui.i18n import t, tm

if TYPE_CHECKING:
    from kb.llm.chat import Answer, ChatEvent, Notice, Turn

THINKING_REDRAW_CHARS = 120  # the reasoning box is redrawn when this much more has arrived (not per piece)


class LiveAnswer:
    """Placeholders for one streaming answer, top to bottom: progress, notices, reasoning, then the
    text that `st.write_stream(live.pieces(events))` draws below them."""

    def __init__(self) -> None:
        self._progress = st.empty()
        self._progress.caption(t("chat.searching"))
        self._notices = st.container()
        self._thinking = st.empty()
        self._shown: list["Notice"] = []
        self._thoughts: list[str] = []
        self._thought_chars = 0  # how much reasoning has arrived
        self._thoughts_drawn = 0  # how much of it is on screen
        self.answer: "Answer | None" = None

    def pieces(self, events: Iterable["ChatEvent"]) -> Iterator[str]:
        """The answer's text, escaped, for st.write_stream; the other events are drawn on the way."""
        for event in events:
            if event.kind == "notice" and event.notice is not None:
                self._notice(event.notice)
            elif event.kind == "rewritten":
                self._progress.caption(tm("chat.rewritten", q=event.text))
            elif event.kind == "sources":
                self._progress.caption(tm("chat.found", n=len(event.sources)))
            elif event.kind == "thinking":
                self._thoughts.append(event.text)
                self._thought_chars += len(event.text)
                if not self._thoughts_drawn or self._thought_chars - self._thoughts_drawn >= THINKING_REDRAW_CHARS:
                    self._draw_thinking()
            elif event.kind == "token":
                if self._thoughts_drawn < self._thought_chars:
                    self._draw_thinking()  # the reasoning is over: show all of it
                yield render.answer_md(event.text)
            elif event.kind == "answer":
                self.answer = event.answer

    def finish(self, streamed: object) -> "Answer":
        """The whole answer, drawn where the stream was: its notes, the notices not shown yet, its
        reasoning as the core kept it, its text (when nothing streamed) and its footer."""
        answer = self.answer
        if answer is None:  # the core always ends with an "answer" event; without one it is a bug
            raise RuntimeError("the chat stream ended without an answer event")
        with self._progress.container():
            render.answer_notes(answer)
        for item in answer.notices:
            self._notice(item)
        with self._thinking.container():
            render.thinking(answer.thinking)
        if not streamed:  # declined or no model: nothing streamed, the answer is whole
            st.markdown(render.answer_body_md(answer))
        render.answer_footer(answer, key="turn_new")
        return answer

    def _notice(self, notice: "Notice") -> None:
        if notice in self._shown:
            return
        self._shown.append(notice)
        with self._notices:
            render.notice(notice)

    def _draw_thinking(self) -> None:
        self._thoughts_drawn = self._thought_chars
        with self._thinking.container():
            render.thinking("".join(self._thoughts))


def turn_mark(turn: "Turn") -> None:
    """Below a stored answer: that it was interrupted (the reader clicked, or the app stopped, before
    it ended), or that it is still being written by another session."""
    if turn.role != "assistant":
        return
    if turn.state == "interrupted":
        partial = turn.answer.text if turn.answer is not None else turn.content
        label = "chat.interrupted" if (partial or "").strip() else "chat.interrupted_empty"
        st.warning(tm(label), icon=":material/pause_circle:")
    elif turn.state == "streaming":
        st.info(tm("chat.streaming_elsewhere"), icon=":material/hourglass_top:")


def shows_not_saved(answer: "Answer") -> bool:
    """The answer could not be stored (a full disk): the page keeps it for this session instead."""
    return any(n.code == "chat.history_not_saved" for n in answer.notices)
