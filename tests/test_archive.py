"""Back up and restore: round trip through the CLI, and every hostile or damaged archive refused with nothing written."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from kb import KnowledgeBase
from kb.errors import KBError
from kb.llm.sessions import SessionStore

from .conftest import corpus_files, make_settings
from .reliability.helpers import kb_cli

QUESTIONS = ["RAG 为什么不需要训练模型", "LangChain 是什么", "向量数据库", "部署"]


@pytest.fixture
def exported(tmp_path):
    data = tmp_path / "data"
    files = [str(p) for p in corpus_files() if p.suffix == ".md"]
    assert kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress").returncode == 0
    settings = make_settings(data)
    with KnowledgeBase.open(settings, "notes") as kb:
        chunks = kb.chunks()
        kb.edit_chunk(chunks[0].id, "手工改过的第一个分块。")
        kb.disable_chunk(chunks[1].id)
        kb.add_chunk(chunks[2].file_name, "问：备份怎么做？答：python -m kb export。")
        chats = SessionStore(kb.store.folder / "chats.sqlite")  # two conversations, as the chat page keeps them
        chats.add_exchange("chat-a", "RAG 是什么？", "先检索再回答 [1]。", {"citations": [{"file_name": "a.md"}]})
        chats.add_exchange("chat-a", "它和微调比呢？", "不用训练。", {"citations": []})
        chats.add_exchange("chat-b", "部署要几步？", "三步。", {"citations": []})
        chats.close()
    archive = tmp_path / "notes.tar"
    out = kb_cli(data, "export", "--kb", "notes", "-o", str(archive), KB_LANG="en")
    assert out.returncode == 0 and "Backed up" in out.stdout, out.stderr
    return data, settings, archive


def _snapshot(kb):
    docs = [(d.file_name, d.file_hash, d.n_chunks) for d in kb.documents()]
    chunks = [s.to_dict() | {"kb": None, "doc_id": None} for s in kb.chunk_states()]  # ids follow the kb name
    results = [[(r.chunk.id, round(r.fused_score, 6)) for r in kb.search(q, k=5).results] for q in QUESTIONS]
    return docs, chunks, results


def test_round_trip_keeps_documents_chunks_curation_and_search_results(exported):
    data, settings, archive = exported
    out = kb_cli(data, "import", str(archive), "--as", "copy", KB_LANG="en")
    assert out.returncode == 0 and "Imported knowledge base 'copy'" in out.stdout, out.stderr
    with KnowledgeBase.open(settings, "notes") as a, KnowledgeBase.open(settings, "copy") as b:
        assert _snapshot(a) == _snapshot(b)
        assert [e.action for e in a.edits()] == [e.action for e in b.edits()]
        assert a.store.uuid != b.store.uuid
        assert b.check().ok
        b.reindex()
        assert [x.to_dict() | {"kb": None, "doc_id": None, "id": None} for x in a.chunk_states()] == \
            [x.to_dict() | {"kb": None, "doc_id": None, "id": None} for x in b.chunk_states()]


def _rewrite(archive, out, change):
    """A copy of `archive` with `change(name, data) -> (name, data) | None` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for m in src:
            data = src.extractfile(m).read()
            changed = change(m.name, data)
            if changed is None:
                continue
            info = tarfile.TarInfo(changed[0])
            info.size = len(changed[1])
            dst.addfile(info, io.BytesIO(changed[1]))
    return out


def _refused(settings, path, code, **kw):
    before = sorted(p.name for p in (settings.data_dir / "kbs").iterdir())
    with pytest.raises(KBError) as err:
        KnowledgeBase.import_archive(settings, path, **kw)
    assert err.value.code == code, err.value
    assert sorted(p.name for p in (settings.data_dir / "kbs").iterdir()) == before  # nothing written
    return err.value


def test_hostile_and_damaged_archives_are_refused(exported, tmp_path):
    data, settings, archive = exported
    # zip slip: a member named ../evil, and an absolute one
    slip = _rewrite(archive, tmp_path / "slip.tar", lambda n, d: ("../evil.txt", d) if n.startswith("kb/files/") else (n, d))
    _refused(settings, slip, "archive.unsafe_name", as_name="x1")
    assert not (tmp_path / "evil.txt").exists()
    absolute = _rewrite(archive, tmp_path / "abs.tar", lambda n, d: ("/tmp/evil.txt", d) if n.startswith("kb/files/") else (n, d))
    _refused(settings, absolute, "archive.unsafe_name", as_name="x2")
    # tampered: one byte of the database changed
    tampered = _rewrite(archive, tmp_path / "t.tar",
                        lambda n, d: (n, d[:-1] + bytes([d[-1] ^ 1])) if n == "kb/kb.sqlite" else (n, d))
    _refused(settings, tampered, "archive.checksum", as_name="x3")
    # truncated
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    err = _refused(settings, cut, "archive.unreadable", as_name="x4")
    assert "truncated" in str(err) or "damaged" in str(err)
    # a member missing
    missing = _rewrite(archive, tmp_path / "m.tar", lambda n, d: None if n.startswith("kb/files/") else (n, d))
    _refused(settings, missing, "archive.member_missing", as_name="x5")

    # a newer format
    def newer(n, d):
        if n == "archive.json":
            m = json.loads(d)
            m["kb_format"] = 99
            return n, json.dumps(m).encode()
        return n, d
    err = _refused(settings, _rewrite(archive, tmp_path / "n.tar", newer), "archive.newer", as_name="x6")
    assert "upgrade" in str(err)
    # over an existing name without --as, and another embedder without --rebuild
    err = _refused(settings, archive, "archive.name_taken")
    assert "--as" in str(err)
    other = make_settings(settings.data_dir, "builtin")
    err = _refused(other, archive, "archive.embedder_differs", as_name="x7")
    assert "--rebuild" in str(err)
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.check().ok


def test_cli_import_errors_exit_2(exported, tmp_path):
    data, _settings, archive = exported
    out = kb_cli(data, "import", str(archive), KB_LANG="en")
    assert out.returncode == 2 and "already exists" in out.stderr
    out = kb_cli(data, "import", str(tmp_path / "nope.tar"), KB_LANG="en")
    assert out.returncode == 2 and "no archive file" in out.stderr


def test_import_with_another_embedder_rebuilds_and_keeps_the_curation(exported):
    data, settings, archive = exported
    other = make_settings(data, "builtin")
    done = KnowledgeBase.import_archive(other, archive, "rebuilt", rebuild=True)
    assert done.rebuilt
    with KnowledgeBase.open(settings, "notes") as a, KnowledgeBase.open(other, "rebuilt") as b:
        assert b.store.embedder_name != a.store.embedder_name
        strip = lambda kb: [(s.chunk.file_name, s.chunk.text, s.disabled, s.edited, s.manual)  # noqa: E731
                            for s in kb.chunk_states()]
        assert strip(a) == strip(b)
        assert b.check().ok
        b.reindex()  # re-chunking under the new name still finds every edit
        assert strip(a) == strip(b) and b.check().ok


def test_a_member_outside_the_layout_is_refused(exported, tmp_path):
    _data, settings, archive = exported

    def extra(n, d):
        return ("kb/notes.sqlite", d) if n.startswith("kb/files/") else (n, d)
    _refused(settings, _rewrite(archive, tmp_path / "e.tar", extra), "archive.unlisted", as_name="y1")


def _conversations(folder):
    chats = SessionStore(folder / "chats.sqlite")
    try:
        return [(i.name, i.title, [(t.role, t.content, t.data, t.state) for t in chats.turns(i.name)])
                for i in sorted(chats.list(), key=lambda i: i.name)]
    finally:
        chats.close()


def test_conversations_round_trip_with_their_checksum_also_under_another_name(exported, tmp_path):
    data, settings, archive = exported
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("archive.json").read())
        chats = tar.extractfile("kb/chats.sqlite").read()
    assert manifest["archive_format"] == 2
    assert manifest["members"]["kb/chats.sqlite"] == {"sha256": hashlib.sha256(chats).hexdigest(), "size": len(chats)}
    original = _conversations(settings.data_dir / "kbs" / "notes")
    assert [c[0] for c in original] == ["chat-a", "chat-b"] and len(original[0][2]) == 4
    KnowledgeBase.import_archive(settings, archive, "talks")
    assert _conversations(settings.data_dir / "kbs" / "talks") == original
    with KnowledgeBase.open(settings, "talks") as kb:
        assert kb.check().ok
    # the conversations are checked like every member: one byte changed is refused
    tampered = _rewrite(archive, tmp_path / "c.tar",
                        lambda n, d: (n, d[:100] + bytes([d[100] ^ 1]) + d[101:]) if n == "kb/chats.sqlite" else (n, d))
    _refused(settings, tampered, "archive.checksum", as_name="talks2")


def test_an_archive_of_format_1_without_conversations_still_imports(exported, tmp_path):
    _data, settings, archive = exported

    def older(n, d):
        if n == "kb/chats.sqlite":
            return None
        if n == "archive.json":
            m = json.loads(d)
            m["archive_format"] = 1
            del m["members"]["kb/chats.sqlite"]
            return n, json.dumps(m).encode()
        return n, d
    done = KnowledgeBase.import_archive(settings, _rewrite(archive, tmp_path / "old.tar", older), "old")
    assert done.n_documents > 0
    assert not (settings.data_dir / "kbs" / "old" / "chats.sqlite").exists()
    with KnowledgeBase.open(settings, "old") as kb:
        assert kb.check().ok and len(kb.documents()) == done.n_documents
