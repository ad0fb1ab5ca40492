"""Chat history that survives: saved as the answer streams, an interrupted stream keeps its part, a full
disk never costs the answer, and history that is not text is refused with a coded error."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from kb import KnowledgeBase
from kb.errors import KBError
from kb.llm.prompting import validate_history

from .conftest import REPO, corpus_files, make_settings
from .reliability.helpers import fill_disk, require_mount, tmpfs

REPLY = "根据资料，LangChain 的名称源自链(chain)，它把多个步骤串起来 [1]。"


@pytest.fixture
def kb(tmp_path, ollama_standin):
    ollama_standin.reply = REPLY
    settings = make_settings(tmp_path / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                             ollama={"url": ollama_standin.url, "timeout": 10.0})
    with KnowledgeBase.open(settings, "notes") as knowledge_base:
        knowledge_base.ingest(corpus_files()[1:2])
        yield knowledge_base


def stored(kb, session):
    return [(t.role, t.content, t.state) for t in kb.session_turns(session)]


def test_the_exchange_is_saved_when_the_stream_starts_and_as_tokens_arrive(kb):
    kb.chat.save_interval = 0.0  # save on every token, so the test can look after each one
    events = kb.stream_answer("LangChain 是什么？", session="live")
    seen = ""
    for event in events:
        if event.kind == "sources":
            assert stored(kb, "live") == [("user", "LangChain 是什么？", "complete"), ("assistant", "", "streaming")]
        if event.kind == "token":
            seen += event.text
            assert stored(kb, "live")[-1] == ("assistant", seen, "streaming")
        if event.kind == "answer":
            break
    assert stored(kb, "live")[-1] == ("assistant", REPLY, "complete")
    assert kb.session_turns("live")[-1].answer.used_citations


def test_a_stream_closed_midway_keeps_the_partial_exchange_marked_interrupted(kb):
    events = kb.stream_answer("LangChain 是什么？", session="rerun")  # the default throttle
    seen = ""
    for event in events:
        if event.kind == "token":
            seen += event.text
            if len(seen) > 8:
                break
    events.close()  # what a Streamlit rerun does to the generator
    role, content, state = stored(kb, "rerun")[-1]
    assert (role, content, state) == ("assistant", seen, "interrupted") and REPLY.startswith(seen)
    answer = kb.session_turns("rerun")[-1].answer
    assert answer is not None and answer.text == seen
    after = kb.ask("LangChain 有什么用？", session="rerun")  # the conversation goes on
    assert after.error is None
    assert [s for _, _, s in stored(kb, "rerun")] == ["complete", "interrupted", "complete", "complete"]
    assert kb.chat.history("rerun")[1] == {"role": "assistant", "content": seen}


def test_a_turn_left_streaming_by_a_dead_process_reads_as_interrupted(kb, tmp_path):
    turn = kb.chat.sessions.begin_exchange("dead", "LangChain 是什么？")
    kb.chat.sessions.update_answer(turn, "一半的回")
    other = type(kb.chat.sessions)(kb.chat.sessions.path)  # another process's view of the same file
    try:
        assert [t.state for t in other.turns("dead")] == ["complete", "interrupted"]
    finally:
        other.close()
    assert kb.chat.history("dead") == []  # still streaming here: not history yet


def test_a_full_disk_while_saving_history_keeps_the_answer(tmp_path, ollama_standin):
    require_mount()
    ollama_standin.reply = REPLY
    with tmpfs("12m") as disk:
        settings = make_settings(disk / "data", retrieval={"threshold": 0.0, "relative_cutoff": 0.0},
                                 ollama={"url": ollama_standin.url, "timeout": 10.0})
        with KnowledgeBase.open(settings, "notes") as kb:
            kb.ingest(corpus_files()[1:2])
            assert kb.ask("LangChain 是什么？", session="full").error is None
            filler = fill_disk(disk)
            answer = kb.ask("LangChain 有什么用？" + "很长的问题。" * 300, session="full")
            assert answer.text == REPLY and answer.error is None
            assert [n.code for n in answer.notices] == ["chat.history_not_saved"]
            assert "full" in answer.notices[0].params["error"]
            assert "磁盘空间" in answer.notices[0].message("zh")
            filler.unlink()
            again = kb.ask("LangChain 的名字从哪来？", session="full")
            assert again.error is None and again.notices == ()
            assert [t.role for t in kb.session_turns("full")][-2:] == ["user", "assistant"]


@pytest.mark.parametrize("history,code,params", [
    ({"role": "user"}, "chat.history_not_list", {"kind": "object"}),
    (["hi"], "chat.history_item_not_object", {"index": 1, "kind": "text"}),
    ([{"role": "system", "content": "x"}], "chat.history_role_invalid", {"role": "'system'"}),
    ([{"role": "user", "content": "ok"}, {"role": "assistant", "content": 42}], "chat.history_content_not_text",
     {"index": 2, "kind": "number"}),
    ([{"role": "user", "content": ["a", "b"]}], "chat.history_content_not_text", {"kind": "list"}),
    ([{"role": "user", "content": None}], "chat.history_content_not_text", {"kind": "null"}),
])
def test_history_that_is_not_text_is_refused_with_a_code(history, code, params):
    with pytest.raises(KBError) as err:
        validate_history(history, source="h.json")
    assert err.value.code == code and err.value.params["source"] == "h.json"
    assert params.items() <= err.value.params.items()
    assert "h.json" in err.value.message("zh") and "h.json" in err.value.message("en")


def test_a_stored_session_with_non_text_content_is_refused_and_bad_data_is_survived(kb):
    kb.ask("LangChain 是什么？", session="bad")
    with sqlite3.connect(kb.chat.sessions.path) as conn:
        conn.execute("UPDATE turns SET content=? WHERE session='bad' AND role='user'", (b"\x00\xff",))
        conn.execute("UPDATE turns SET data='{not json' WHERE session='bad' AND role='assistant'")
    turns = kb.session_turns("bad")  # showing it still works: the data is dropped, the text is kept
    assert turns[1].answer is None and turns[1].content == REPLY
    with pytest.raises(KBError) as err:
        kb.ask("它有什么用？", session="bad")
    assert err.value.code == "chat.history_content_not_text" and err.value.params["kind"] == "bytes"
    assert "chats.sqlite" in str(err.value)


def test_cli_refuses_a_history_file_with_non_text_content(tmp_path, kb):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": {"nested": True}}]), encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KB_")}, "KB_LANG": "en",
           "KB_DATA_DIR": str(kb.settings.data_dir), "KB_EMBEDDER": "hash"}
    out = subprocess.run([sys.executable, "-m", "kb", "search", "LangChain", "--kb", "notes", "--history",
                          str(history)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "content of type object" in out.stderr and "Traceback" not in out.stderr


def test_a_stored_answer_keeps_its_notices_and_codes(kb, ollama_standin):
    from kb.llm.chat import Answer

    ollama_standin.fail_mode = "error_midstream"
    answer = kb.ask("LangChain 是什么？", session="codes")
    stored = kb.session_turns("codes")[-1].answer
    assert stored.error_code == answer.error_code == "ollama.midstream_error" and stored.partial
    assert stored.error_message("zh") != stored.error_message("en")
    again = Answer.from_dict({**answer.to_dict(), "notices": [{"code": "chat.answer_capped", "params": {"limit": 5}},
                                                               {"code": "no.such.code"}, "junk"]})
    assert [n.code for n in again.notices] == ["chat.answer_capped"]
