"""`python -m kb migrate --kb K --to postgres`: a whole verified copy (curation, edit log, questions,
originals included) or nothing, with coded errors for an unreachable server, a missing `vector`
extension the user may not create, and a target that exists. Real SQLite, real PostgreSQL."""
from __future__ import annotations

import json

import pytest

from kb import KnowledgeBase
from kb.errors import StoreError
from kb.curate.migrate import migrate_to_postgres

from ..conftest import make_settings
from ..pg_server import _with_db, pg_server, pg_settings, pg_url  # noqa: F401 (fixtures)
from ..reliability.helpers import kb_cli
from .test_backends import NOTES


@pytest.fixture
def sqlite_kb(tmp_path):
    """A knowledge base in the embedded store with hand curation and a personal question."""
    data = tmp_path / "data"
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    with KnowledgeBase.open(make_settings(data), "notes") as kb:
        assert kb.ingest(sorted(folder.iterdir())).ok
        garden = kb.chunks("garden.md")
        kb.edit_chunk(garden[-1].id, "Aphids are washed off with a ladybird colony.")
        kb.disable_chunk(kb.chunks("travel.txt")[0].id)
        kb.mark_relevant("what do tomatoes need?", garden[0].id)
    return data


def test_migrate_copies_everything_and_the_copy_passes_check(sqlite_kb, pg_url):
    with KnowledgeBase.open(make_settings(sqlite_kb), "notes", create=False) as src:
        states = [(s.chunk.id, s.disabled, s.edited) for s in src.chunk_states()]
        edits = [(e.action, e.chunk_id) for e in src.edits()]
        questions = src.personal_questions()
        docs = [(d.file_name, d.file_hash, d.n_chunks) for d in src.documents()]
    done = kb_cli(sqlite_kb, "migrate", "--kb", "notes", "--to", "postgres", "--url", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["documents"], out["originals"], out["check"]["ok"]) == (3, 3, True)
    with KnowledgeBase.open(pg_settings(sqlite_kb, pg_url), "notes", create=False) as kb:
        assert [(d.file_name, d.file_hash, d.n_chunks) for d in kb.documents()] == docs
        assert [(s.chunk.id, s.disabled, s.edited) for s in kb.chunk_states()] == states
        assert [(e.action, e.chunk_id) for e in kb.edits()] == edits
        assert [q["chunk_id"] for q in kb.personal_questions()] == [q["chunk_id"] for q in questions]
        hits = kb.search("ladybird colony", mode="bm25").results
        assert hits and "ladybird" in hits[0].chunk.text
        disabled = next(cid for cid, off, _ in states if off)
        assert all(h.chunk.id != disabled for h in kb.search("passport Kyoto", mode="hybrid").results)
        assert kb.reindex().ok  # the originals came along
        assert kb.check().ok
    assert kb_cli(sqlite_kb, "check", "--kb", "notes", KB_STORAGE_BACKEND="postgres",
                  KB_STORAGE_URL=pg_url).returncode == 0


def test_migrate_refuses_an_existing_target_and_changes_nothing(sqlite_kb, pg_url):
    settings = make_settings(sqlite_kb)
    migrate_to_postgres(settings, "notes", pg_url)
    with pytest.raises(StoreError) as err:
        migrate_to_postgres(settings, "notes", pg_url)
    assert err.value.code == "pg.kb_exists"
    again = kb_cli(sqlite_kb, "migrate", "--kb", "notes", "--to", "postgres", "--url", pg_url)
    assert again.returncode == 2 and "already has a knowledge base named 'notes'" in again.stderr
    with KnowledgeBase.open(pg_settings(sqlite_kb, pg_url), "notes", create=False) as kb:
        assert len(kb.documents()) == 3 and kb.check().ok


def test_an_unreachable_server_is_a_coded_error(sqlite_kb):
    with pytest.raises(StoreError) as err:
        migrate_to_postgres(make_settings(sqlite_kb), "notes", "postgresql://kb:topsecret@127.0.0.1:1/kb")
    assert err.value.code == "pg.unreachable" and "127.0.0.1" in str(err.value)
    assert "topsecret" not in str(err.value)  # the password never reaches a message


def test_a_missing_vector_extension_says_create_extension(sqlite_kb, pg_server):
    pg_server.psql("CREATE ROLE lowly LOGIN; CREATE DATABASE novector OWNER postgres;")
    url = _with_db(pg_server.get_uri(), "novector").replace("postgres:@", "lowly:@", 1)
    with pytest.raises(StoreError) as err:
        migrate_to_postgres(make_settings(sqlite_kb), "notes", url)
    assert err.value.code == "pg.vector_privilege"
    assert "CREATE EXTENSION vector" in str(err.value)
