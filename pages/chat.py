"""对话 / Chat: grounded answers that stream, with citations you can open; conversations are kept."""
from ui.navigation import use_navigation

use_navigation()  # a page run on its own must go through the entry (see ui/navigation.py)

import streamlit as st

from kb import KBError
from ui import chat_view, context, render, state, status as ollama_status
from ui.i18n import t, tm
from ui.state import K

kb = context.kb()


@context.guard
def _new() -> None:
    state.set_chat_session(kb.new_session())


@context.guard
def _delete(name: str) -> None:
    kb.delete_session(name)
    remaining = [s.name for s in kb.sessions()]
    state.set_chat_session(remaining[0] if remaining else kb.new_session())


sessions = {s.name: s for s in kb.sessions()}
wanted = state.chat_session() or st.query_params.get("chat")
if wanted not in sessions:
    wanted = next(iter(sessions), None) or kb.new_session()
    sessions = {s.name: s for s in kb.sessions()}
state.set_chat_session(wanted)
st.query_params["chat"] = wanted  # a reload comes back to this conversation

st.title(t("chat.title"))
pick, new, delete, mode_col = st.columns([4, 1, 1, 3], vertical_alignment="bottom")
current = pick.selectbox(t("chat.conversation"), list(sessions), key=K.CHAT,
                         format_func=lambda n: t("chat.session_label", title=sessions[n].title, n=sessions[n].n_turns)
                         if sessions[n].n_turns else t("chat.untitled"), persist_state="session")
new.button(t("chat.new"), key=K.CHAT_NEW, icon=":material/add_comment:", on_click=_new, width="stretch")
with delete.popover(t("chat.delete"), icon=":material/delete:", width="stretch"):
    st.button(t("chat.delete_now"), key=K.CHAT_DELETE, type="primary", on_click=_delete, args=(current,))
mode = mode_col.segmented_control(t("chat.mode"), ["docs", "chat"], key=K.CHAT_MODE, default=kb.settings.chat.mode,
                                  required=True, format_func=lambda m: t(f"chat.mode_{m}"), persist_state="session")

snapshot = ollama_status.latest(kb.settings)  # the last known state: never waits on Ollama
status = snapshot.status if snapshot else None
if status is None:
    pass  # not known yet: the sidebar says "checking…"; the answer itself will tell
elif not status.reachable:
    st.warning(tm("chat.ollama_down", url=status.url), icon=":material/cloud_off:")
    st.code("ollama serve", language="bash")
elif not status.model_present:
    st.warning(tm("chat.model_missing", model=status.model), icon=":material/warning:")
    st.code("python -m kb model setup", language="bash")

for i, turn in enumerate(kb.session_turns(current)):
    with st.chat_message(turn.role):
        if turn.role == "user":
            st.markdown(render.escape_md(turn.content))
        elif turn.answer is not None:
            render.show_answer(turn.answer, key=f"turn_{i}")
        else:
            st.markdown(render.stored_answer_md(turn.content))
        chat_view.turn_mark(turn)
for i, kept in enumerate(state.unsaved_answers(current)):  # not stored (full disk): kept for this session
    with st.chat_message("user"):
        st.markdown(render.escape_md(kept.question))
    with st.chat_message("assistant"):
        render.show_answer(kept, key=f"unsaved_{i}")

if question := st.chat_input(t("chat.placeholder"), key=K.CHAT_INPUT):
    with st.chat_message("user"):
        st.markdown(render.escape_md(question))
    with st.chat_message("assistant"):
        live = chat_view.LiveAnswer()
        events = kb.stream_answer(question, session=current, mode=mode)
        try:
            streamed = st.write_stream(live.pieces(events))
        except KBError as exc:
            render.error(exc)
            st.stop()
        finally:  # a click mid-answer stops this run here: closing now marks the stored exchange interrupted
            events.close()
        answer = live.finish(streamed)
    if chat_view.shows_not_saved(answer):
        state.unsaved_answers(current).append(answer)
    st.rerun()  # redraw from the stored conversation: titles and the picker catch up
