"""The facade's verbs on both backends (SQLite + FAISS in a folder; PostgreSQL + pgvector on a real
server from tests/pg_server.py): the same calls, the same results. Hash embedder, small files."""
from __future__ import annotations

import pytest

from kb import KnowledgeBase, KnowledgeBaseNotFound
from kb.store.base import Backend, Indexes, Originals, ReadView, SearchIndex, Store, Writer, satisfied

from ..conftest import make_settings
from ..pg_server import pg_server, pg_settings, pg_url  # noqa: F401 (fixtures)

NOTES = {
    "deploy.md": "# 部署\n\n第一段：安装 Ollama，然后运行 `ollama serve`。\n\n## 模型\n\n第二段：用 Modelfile 创建模型 qwen。\n",
    "garden.md": "# Garden\n\nTomatoes need full sun and regular watering.\n\n## Pests\n\nAphids are washed off with soap.\n",
    "travel.txt": ("Packing list for the trip to Kyoto: passport, rail pass, umbrella, charger.\n\n"
                   "Day one: Fushimi Inari at dawn, then the Nishiki market for lunch and tea.\n"),
}


@pytest.fixture(params=["sqlite", "postgres"])
def settings_any(request, tmp_path):
    if request.param == "sqlite":
        return make_settings(tmp_path / "data")
    return pg_settings(tmp_path / "data", request.getfixturevalue("pg_url"))


@pytest.fixture
def notes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(folder.iterdir())


@pytest.fixture
def kb_any(settings_any):
    with KnowledgeBase.open(settings_any, "notes") as kb:
        yield kb


def test_both_backends_keep_the_interface(kb_any):
    from kb.factory import storage_backend

    assert satisfied(kb_any.store, Store)
    assert satisfied(kb_any.indexes, Indexes)
    assert satisfied(kb_any.originals, Originals)
    assert satisfied(storage_backend(kb_any.settings), Backend)
    with kb_any.store.read() as view:
        assert satisfied(view, ReadView)
        assert satisfied(kb_any.indexes.at(view), SearchIndex)
    with kb_any.store.writer() as w:
        assert satisfied(w, Writer)


def test_ingest_search_and_a_second_run_changes_nothing(kb_any, notes):
    first = kb_any.ingest(notes)
    assert [f.status for f in first.files] == ["added"] * 3, first
    n_chunks = len(kb_any.chunks())
    assert n_chunks >= 4 and kb_any.info().n_chunks == n_chunks
    hits = kb_any.search("Tomatoes sun watering", mode="hybrid").results
    assert hits and hits[0].chunk.file_name == "garden.md"
    assert hits[0].bm25_score > 0 and hits[0].dense_score is not None
    keyword = kb_any.search("passport rail", mode="bm25").results
    assert keyword and keyword[0].chunk.file_name == "travel.txt"
    again = kb_any.ingest(notes)
    assert [f.status for f in again.files] == ["unchanged"] * 3
    assert len(kb_any.chunks()) == n_chunks
    assert kb_any.check().ok


def test_delete_removes_chunks_vectors_keywords_and_original(kb_any, notes):
    kb_any.ingest(notes)
    doc = kb_any.document("travel.txt")
    kb_any.delete("travel.txt")
    assert kb_any.document("travel.txt") is None
    assert all(c.file_name != "travel.txt" for c in kb_any.chunks())
    assert all(h.chunk.file_name != "travel.txt" for h in kb_any.search("passport rail", mode="bm25").results)
    assert kb_any.originals.read_intact(doc.file_hash, doc.file_name) is None
    with kb_any.store.read() as view:
        n_docs, n_chunks, n_vectors = view.counts()
    assert (n_docs, n_chunks) == (2, n_vectors)
    assert kb_any.check().ok


def test_reindex_with_new_chunk_size_from_the_stored_originals(settings_any, notes):
    with KnowledgeBase.open(settings_any, "notes") as kb:
        kb.ingest(notes)
        before = len(kb.chunks())
    small = settings_any.with_overrides(chunking={"size": 50, "overlap": 0})
    with KnowledgeBase.open(small, "notes") as kb:
        report = kb.reindex()
        assert report.ok and {f.status for f in report.files} <= {"replaced", "unchanged"}
        assert len(kb.chunks()) > before
        assert kb.check().ok


def test_edit_and_disable_a_chunk(kb_any, notes):
    kb_any.ingest(notes)
    target = next(c for c in kb_any.chunks("garden.md") if "Aphids" in c.text)
    kb_any.edit_chunk(target.id, "Aphids are washed off with a ladybird colony.")
    hits = kb_any.search("ladybird colony", mode="bm25").results
    assert hits and hits[0].chunk.id == target.id
    state = kb_any.disable_chunk(target.id)
    assert state.disabled
    assert all(h.chunk.id != target.id for h in kb_any.search("ladybird colony", mode="hybrid").results)
    kb_any.disable_chunk(target.id, False)
    assert any(h.chunk.id == target.id for h in kb_any.search("ladybird colony", mode="bm25").results)
    assert kb_any.edits()[0].chunk_id == target.id
    assert kb_any.check().ok


def test_state_survives_reopen(settings_any, notes):
    with KnowledgeBase.open(settings_any, "notes") as kb:
        kb.ingest(notes)
        ids = [c.id for c in kb.chunks()]
    with KnowledgeBase.open(settings_any, "notes") as kb:
        assert [c.id for c in kb.chunks()] == ids
        assert kb.search("Kyoto umbrella", mode="hybrid").results[0].chunk.file_name == "travel.txt"


def test_list_and_remove_knowledge_bases(settings_any, notes):
    for name in ("alpha", "笔记"):
        with KnowledgeBase.open(settings_any, name) as kb:
            kb.ingest(notes[:1])
    listed = {i.name: i for i in KnowledgeBase.list_all(settings_any)}
    assert set(listed) == {"alpha", "笔记"} and listed["alpha"].n_documents == 1 and listed["alpha"].n_chunks > 0
    KnowledgeBase.remove(settings_any, "alpha")
    assert [i.name for i in KnowledgeBase.list_all(settings_any)] == ["笔记"]
    with pytest.raises(KnowledgeBaseNotFound):
        KnowledgeBase.open(settings_any, "alpha", create=False)
    with pytest.raises(KnowledgeBaseNotFound):
        KnowledgeBase.remove(settings_any, "alpha")
    assert KnowledgeBase.check_named(settings_any, "笔记").ok


def test_rebuild_and_repair_say_they_are_for_the_embedded_store(tmp_path, pg_url):
    from kb import KBError

    settings = pg_settings(tmp_path / "data", pg_url)
    with KnowledgeBase.open(settings, "notes"):
        pass
    for verb in (KnowledgeBase.rebuild, KnowledgeBase.repair):
        with pytest.raises(KBError) as err:
            verb(settings, "notes")
        assert err.value.code == "pg.command_unsupported"
    assert not (tmp_path / "data" / "kbs" / "notes").exists()  # no embedded copy made on the side


def test_the_backend_is_chosen_by_settings_and_a_postgres_backend_needs_a_url(tmp_path):
    from kb import ConfigError, Settings
    from kb.factory import storage_backend
    from kb.store.local import SQLiteBackend
    from kb.store.pg.backend import PGBackend

    from ..conftest import REPO

    assert isinstance(storage_backend(make_settings(tmp_path)), SQLiteBackend)
    with pytest.raises(ConfigError) as err:
        Settings.from_mapping({"storage": {"backend": "postgres"}}, env={}, base_dir=REPO)
    assert "KB_STORAGE_URL" in str(err.value)
    with pytest.raises(ConfigError):
        Settings.from_mapping({"storage": {"backend": "mysql"}}, env={}, base_dir=REPO)
    env = {"KB_STORAGE_BACKEND": "postgres", "KB_STORAGE_URL": "postgresql://kb:secret@db.example/kb"}
    chosen = storage_backend(Settings.from_mapping({}, env=env, base_dir=REPO))
    assert isinstance(chosen, PGBackend) and chosen.url == env["KB_STORAGE_URL"]  # nothing connects yet


def test_a_sheets_rows_are_kept_as_its_chunks_origin(kb_any, tmp_path):
    sheet = tmp_path / "数据.csv"
    sheet.write_text("名称,数量\n" + "".join(f"零件{i},{i}\n" for i in range(1, 41)), encoding="utf-8")
    assert kb_any.ingest([sheet]).ok
    chunks = kb_any.chunks()
    assert chunks and all(c.rows is not None and c.rows[0] <= c.rows[1] for c in chunks)
    first = min(c.rows[0] for c in chunks)
    assert first == 2  # the header is row 1; the origin survives the round trip through the store
