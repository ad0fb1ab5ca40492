"""The corruption matrix: every file of a knowledge base x {deleted, emptied, truncated, bytes flipped}, plus
rows edited in the database. For each: `check` names the damage (or the data really is intact), the advice it
gives works when followed, and the rest of the data folder is unaffected."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.llm.sessions import SessionStore

from ..conftest import corpus_files, make_settings
from ..reliability.helpers import kb_cli

QUESTIONS = ["RAG 为什么不需要训练模型", "显存", "LangChain", "向量数据库"]


def _state(settings, name="notes"):
    """Everything a user would notice: documents, chunk texts, and what a few questions find."""
    with KnowledgeBase.open(settings, name, create=False) as kb:
        docs = sorted((d.file_name, d.file_hash, d.n_chunks) for d in kb.documents())
        texts = sorted((c.id, c.text) for c in kb.chunks())
        found = [[r.chunk.id for r in kb.search(q, k=5).results] for q in QUESTIONS]
    return docs, texts, found


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    settings = make_settings(root / "data")
    files = [f for f in corpus_files() if f.suffix in (".md", ".pdf")][:3]
    with KnowledgeBase.open(settings, "notes") as kb:
        report = kb.ingest(files)
        assert report.ok
    with KnowledgeBase.open(settings, "other") as kb:
        kb.ingest(corpus_files()[-1:])
    sessions = SessionStore(root / "data" / "kbs" / "notes" / "chats.sqlite")
    sessions.ensure("s1", "第一次对话")
    sessions.close()
    return root / "data", _state(settings), _state(settings, "other"), files


def _kb_files(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith(".") and not path.name.endswith(("-wal", "-shm")) \
                and path.name != ".lock":
            out.append(rel)
    return out


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "deleted":
        path.unlink()
    elif how == "emptied":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        mid = len(data) // 2
        span = min(64, max(1, len(data) - mid))
        path.write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + span]) + data[mid + span:])


def _edit_row(db: Path, how: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        if how == "chunk text edited":
            conn.execute("UPDATE chunks SET text = text || ' 被篡改' WHERE rowid = (SELECT MIN(rowid) FROM chunks)")
        elif how == "vector poisoned":
            rowid, blob = conn.execute("SELECT rowid, vec FROM vectors LIMIT 1").fetchone()
            vec = np.frombuffer(blob, dtype=np.float32).copy()
            vec[0] = 1e30
            conn.execute("UPDATE vectors SET vec=? WHERE rowid=?", (vec.tobytes(), rowid))
        elif how == "vector row deleted":
            conn.execute("DELETE FROM vectors WHERE rowid = (SELECT MAX(rowid) FROM vectors)")
        elif how == "chunk count edited":
            conn.execute("UPDATE documents SET n_chunks = n_chunks + 3 WHERE rowid = 1")
    conn.close()


def _follow(advice: str, settings, folder: Path, files: list[Path]) -> None:
    """Do what the advice says, as a user would."""
    if advice in ("advice.repair", "advice.repair_restore", "advice.recreate"):
        report = KnowledgeBase.repair(settings, "notes")
        assert report.actions
    elif advice == "advice.ingest_again":
        with KnowledgeBase.open(settings, "notes", create=False) as kb:
            assert kb.ingest(files).ok
    elif advice == "advice.index_on_open":
        KnowledgeBase.open(settings, "notes", create=False).close()
    else:
        raise AssertionError(f"advice {advice} has no action in this test")


def _cases(pristine_dir: Path):
    files = _kb_files(pristine_dir / "kbs" / "notes")
    cases = [(rel, how) for rel in files for how in ("deleted", "emptied", "truncated", "flipped")]
    cases += [("kb.sqlite", how) for how in ("chunk text edited", "vector poisoned", "vector row deleted",
                                             "chunk count edited")]
    return cases


def test_the_corruption_matrix(pristine, tmp_path):
    pristine_dir, baseline, other_baseline, files = pristine
    tried = held = 0
    failures = []
    for rel, how in _cases(pristine_dir):
        tried += 1
        data = tmp_path / f"case{tried}" / "data"
        shutil.copytree(pristine_dir, data)
        folder = data / "kbs" / "notes"
        settings = make_settings(data)
        if how in ("deleted", "emptied", "truncated", "flipped"):
            _damage(folder / rel, how)
        else:
            _edit_row(folder / rel, how)
        report = KnowledgeBase.check_named(settings, "notes")
        found = [p for p in (*report.problems, *report.notes)]
        try:
            # the rest of the data folder is unaffected: listing works, the other knowledge base is healthy
            listed = {i.name: i for i in KnowledgeBase.list_all(settings)}
            assert set(listed) == {"notes", "other"}
            assert KnowledgeBase.check_named(settings, "other").ok
            assert _state(settings, "other") == other_baseline
            if not found:
                # nothing reported: then nothing a user can notice may differ
                assert _state(settings) == baseline, "damage not reported but the data differs"
            else:
                named = {p.file for p in found}
                assert rel in named or any(rel.startswith(n) or n.startswith(rel.split("/")[0]) for n in named), \
                    (named, rel)
                for advice in dict.fromkeys(p.advice for p in found):
                    _follow(advice, settings, folder, files)
                after = KnowledgeBase.check_named(settings, "notes")
                assert after.ok, [str(p) for p in after.problems]
                assert _state(settings) == baseline
            held += 1
        except AssertionError as exc:
            failures.append(f"{rel} {how}: {exc}")
    print(f"\ncorruption matrix: {tried} cases tried, {held} held")
    assert not failures, "\n".join(failures)


def test_empty_and_damaged_are_different_answers(tmp_path):
    settings = make_settings(tmp_path / "data")
    with KnowledgeBase.open(settings, "empty"):
        pass
    report = KnowledgeBase.check_named(settings, "empty")
    assert report.ok and report.empty
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[:1])
    db = settings.data_dir / "kbs" / "notes" / "kb.sqlite"
    db.write_bytes(b"")
    report = KnowledgeBase.check_named(settings, "notes")
    assert not report.ok and not report.empty
    assert report.problems[0].code == "store.db_empty" and report.problems[0].advice == "advice.repair_restore"
    # the app and the CLI list it as damaged, and everything else still works
    infos = {i.name: i for i in KnowledgeBase.list_all(settings)}
    assert infos["notes"].damaged and not infos["empty"].damaged
    listed = kb_cli(settings.data_dir, "kbs")
    assert listed.returncode == 0 and "empty" in listed.stdout


def test_check_and_repair_through_the_cli(tmp_path):
    data = tmp_path / "data"
    files = [str(f) for f in corpus_files()[:2]]
    assert kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress").returncode == 0
    (data / "kbs" / "notes" / "kb.sqlite").unlink()
    check = kb_cli(data, "check", "--kb", "notes")
    assert check.returncode == 1 and "DAMAGED" in check.stdout and "python -m kb repair --kb notes" in check.stdout
    repaired = kb_cli(data, "repair", "--kb", "notes", "--no-progress")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "restored" in repaired.stdout
    again = kb_cli(data, "check", "--kb", "notes", "--json")
    assert again.returncode == 0
    assert '"n_documents": 2' in again.stdout


def test_a_damaged_database_is_kept_aside_never_deleted(tmp_path):
    settings = make_settings(tmp_path / "data")
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(corpus_files()[:1])
    folder = settings.data_dir / "kbs" / "notes"
    _damage(folder / "kb.sqlite", "truncated")
    junk = (folder / "kb.sqlite").read_bytes()
    KnowledgeBase.repair(settings, "notes")
    kept = list((folder / "damaged").rglob("kb.sqlite"))
    assert len(kept) == 1 and kept[0].read_bytes() == junk
