"""The concurrency model under load: one writer at a time, readers that see whole writes, and a process
that notices when its knowledge base was rebuilt, repaired or deleted under it."""
from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kb import KnowledgeBase, KnowledgeBaseNotFound

from ..conftest import corpus_files, make_settings
from ..reliability.helpers import kb_cli, kb_env, kb_popen

WORKER = Path(__file__).with_name("stress_worker.py")
QUESTIONS = ["RAG 为什么不需要训练模型", "显存", "第 3 段内容", "LangChain 是什么", "向量"]


def _start_worker(data: Path, role: str, namespace: str, stop: Path, ack: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(data), role, namespace, str(stop), str(ack)],
                            env=kb_env(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _expected(ack: Path) -> tuple[dict[str, str | None], int, list[str]]:
    """Replay what a writer acknowledged: the last word on each of its documents."""
    state: dict[str, str | None] = {}
    acked, errors = 0, []
    for line in ack.read_text(encoding="utf-8").splitlines():
        word, _, rest = line.partition(" ")
        if word == "add":
            name, digest = rest.split(" ")
            state[name] = digest
            acked += 1
        elif word == "del":
            state[rest] = None
            acked += 1
        elif word == "error":
            errors.append(rest[:2000])
    return state, acked, errors


def test_stress_readers_and_writers_lose_nothing(tmp_path):
    """Threads search and read while processes ingest, delete, reindex and rebuild (KB_STRESS_SECONDS, 60 by
    default: how long the load lasts, not a limit on anything). Afterwards: no error anywhere, `check` passes,
    and every acknowledged write is there."""
    seconds = float(os.environ.get("KB_STRESS_SECONDS", "60"))
    data = tmp_path / "data"
    settings = make_settings(data)
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.ingest(corpus_files()[:3]).ok
    stop = tmp_path / "stop"
    workers = [(_start_worker(data, role, ns, stop, tmp_path / f"{ns}.log"), tmp_path / f"{ns}.log")
               for role, ns in (("writer", "w1"), ("writer", "w2"), ("maintainer", "m1"))]
    errors: list[str] = []
    reads = {"searches": 0, "views": 0, "local_writes": 0}
    done = threading.Event()
    kb = KnowledgeBase.open(settings, "notes")
    local_expected: dict[str, str | None] = {}

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            try:
                result = kb.search(rng.choice(QUESTIONS), k=5)
                assert all(r.chunk.text for r in result.results)
                with kb.store.read() as view:  # one generation: documents and their chunks agree
                    docs = view.documents()
                    assert sum(d.n_chunks for d in docs) == len(view.chunks())
                kb.chunks()
                reads["searches"] += 1
                reads["views"] += 1
            except Exception as exc:  # noqa: BLE001 - every error counts, of whatever kind
                errors.append(f"reader: {type(exc).__name__}: {exc}")

    def local_writer() -> None:
        """The app's shape: a write from a thread of the same process that is searching."""
        rng = random.Random(7)
        n = 0
        while not done.is_set():
            n += 1
            name = f"local-{rng.randrange(3)}.md"
            body = f"# 本地 {n}\n\n本地写入的第 {n} 段内容。".encode()
            try:
                report = kb.ingest_bytes([(name, body)])
                if report.files[0].status in ("added", "replaced", "unchanged"):
                    local_expected[name] = hashlib.sha256(body).hexdigest()
                    reads["local_writes"] += 1
                else:
                    errors.append(f"local: {report.files[0].error}")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"local writer: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=local_writer))
    for t in threads:
        t.start()
    time.sleep(seconds)  # the length of the load
    # ... and at least one reindex or rebuild and one write per writer happened (an event, not a time)
    safety = time.monotonic() + 900
    while time.monotonic() < safety and not all(
            any(line.startswith(("maint", "add", "del")) for line in ack.read_text().splitlines())
            for _, ack in workers if ack.exists()):
        time.sleep(0.2)
    stop.touch()
    for proc, _ in workers:
        proc.wait()
    done.set()
    for t in threads:
        t.join()
    kb.close()
    acked = 0
    expected: dict[str, str | None] = dict(local_expected)
    for proc, ack in workers:
        state, n, errs = _expected(ack)
        assert proc.returncode == 0, proc.stderr.read()
        errors += errs
        acked += n
        expected.update(state)
    assert not errors, errors[:5]
    with KnowledgeBase.open(settings, "notes", create=False) as kb:
        have = {d.file_name: d.file_hash for d in kb.documents()}
        for name, digest in expected.items():
            assert have.get(name) == digest, (name, digest, have.get(name))
        report = kb.check()
        assert report.ok, [str(p) for p in report.problems]
    check = kb_cli(data, "check", "--kb", "notes")
    assert check.returncode == 0, check.stdout
    maint = sum(1 for line in (tmp_path / "m1.log").read_text().splitlines() if line.startswith("maint"))
    print(f"\nstress {seconds:.0f}s: {acked + reads['local_writes']} acknowledged writes all present "
          f"({reads['local_writes']} from a thread of the reading process), {maint} reindex/rebuild runs, "
          f"{reads['searches']} searches, 0 errors")
    assert acked > 0 and maint > 0 and reads["searches"] > 0


def test_rebuilds_at_once_and_ingests_during_rebuild_keep_everything(tmp_path):
    data = tmp_path / "data"
    files = [str(f) for f in corpus_files()]
    assert kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress").returncode == 0
    extra = tmp_path / "late.md"
    extra.write_text("# 后来的笔记\n\n重建期间写入的笔记必须保留。", encoding="utf-8")
    procs = [kb_popen(data, "rebuild", "--kb", "notes", "--no-progress"),
             kb_popen(data, "rebuild", "--kb", "notes", "--no-progress"),
             kb_popen(data, "ingest", str(extra), "--kb", "notes", "--no-progress")]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    with KnowledgeBase.open(make_settings(data), "notes", create=False) as kb:
        names = {d.file_name for d in kb.documents()}
        assert names == {Path(f).name for f in files} | {"late.md"}
        assert kb.check().ok
    assert not [p.name for p in (data / "kbs").iterdir() if p.name.startswith(".")]


def test_a_long_lived_process_writes_after_a_cli_rebuild_are_seen_by_others(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data)
    kb = KnowledgeBase.open(settings, "notes")
    kb.ingest(corpus_files()[:2])
    assert kb_cli(data, "rebuild", "--kb", "notes", "--no-progress").returncode == 0
    report = kb.ingest_bytes([("after.md", "# 之后\n\n重建之后从应用里上传的笔记。".encode())])
    assert report.files[0].status == "added"
    docs = kb_cli(data, "docs", "--kb", "notes")
    assert "after.md" in docs.stdout
    assert "after.md" in {r.chunk.file_name for r in kb.search("重建之后从应用里上传", k=3).results}
    kb.close()


def test_a_deleted_knowledge_base_is_never_written_into_or_recreated(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data)
    kb = KnowledgeBase.open(settings, "notes")
    kb.ingest(corpus_files()[:1])
    KnowledgeBase.remove(settings, "notes")
    for action in (lambda: kb.search("显存"), lambda: kb.documents(),
                   lambda: kb.ingest_bytes([("x.md", "# 新\n\n内容。".encode())])):
        with pytest.raises(KnowledgeBaseNotFound) as info:
            action()
        assert info.value.code == "kb.deleted"
    assert not (data / "kbs" / "notes").exists()
    # deleted and created again under the same name (another session): still not this instance's
    KnowledgeBase.open(settings, "notes").close()
    with pytest.raises(KnowledgeBaseNotFound):
        kb.search("显存")
    kb.close()


def test_a_repaired_database_is_reopened_by_a_long_lived_process(tmp_path):
    data = tmp_path / "data"
    settings = make_settings(data)
    kb = KnowledgeBase.open(settings, "notes")
    kb.ingest(corpus_files()[:2])
    before = [r.chunk.id for r in kb.search("显存", k=3).results]
    (data / "kbs" / "notes" / "kb.sqlite").write_bytes(b"")
    report = KnowledgeBase.repair(settings, "notes")
    assert report.after.ok
    assert [r.chunk.id for r in kb.search("显存", k=3).results] == before
    assert kb.ingest_bytes([("new.md", "# 新\n\n修复之后写入。".encode())]).files[0].status == "added"
    kb.close()
    assert "new.md" in kb_cli(data, "docs", "--kb", "notes").stdout


def test_rebuild_and_reindex_keep_a_document_whose_original_is_missing(tmp_path):
    settings = make_settings(tmp_path / "data")
    files = corpus_files()[:2]
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(files)
        victim = kb.document(files[0].name)
        kb.originals.path(victim.file_hash, victim.file_name).unlink()
        report = kb.reindex()
        assert {f.file_name: f.status for f in report.files}[victim.file_name] == "kept"
        assert kb.document(victim.file_name).n_chunks == victim.n_chunks
    report = KnowledgeBase.rebuild(settings, "notes")
    assert report.ok and {f.file_name: f.status for f in report.files}[victim.file_name] == "kept"
    with KnowledgeBase.open(settings, "notes") as kb:
        assert kb.document(victim.file_name).n_chunks == victim.n_chunks
        assert kb.search("显存", k=3).results
        codes = [p.code for p in kb.check().problems]
        assert codes == ["check.original_missing"]  # said, with the advice to ingest it again


def test_a_delete_while_searching_never_raises(tmp_path):
    settings = make_settings(tmp_path / "data")
    with KnowledgeBase.open(settings, "notes") as kb:
        files = corpus_files()
        kb.ingest(files)
        errors: list[BaseException] = []
        stop = threading.Event()

        def search() -> None:
            while not stop.is_set():
                try:
                    kb.search("模型", k=8, mmr=True)
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(2)]
        for t in threads:
            t.start()
        for f in files:
            kb.delete(f.name)
            kb.ingest([f])
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert kb.check().ok


def test_a_rebuild_at_a_log_pruning_generation_keeps_readers_right(tmp_path):
    """The changelog is pruned every 32 generations; a rebuild committing at such a generation must still make
    readers reload whole (its floor may not be lowered again by the pruning)."""
    from kb.store.sqlite import LOG_KEEP

    settings = make_settings(tmp_path / "data")
    kb = KnowledgeBase.open(settings, "notes")
    kb.ingest(corpus_files()[:1])
    kb.search("显存")  # this process now holds a snapshot of an early generation
    other = KnowledgeBase.open(settings, "notes")
    while other.store.generation() % 32 != 31 or other.store.generation() < LOG_KEEP:  # the next commit is % 32
        other.ingest_bytes([("tick.md", f"# 计数\n\n第 {other.store.generation()} 次。".encode())])
    before = kb.store.generation()
    kb.search("显存")
    other.close()
    assert KnowledgeBase.rebuild(settings, "notes").ok  # commits at a generation divisible by 32
    assert kb.store.generation() % 32 == 0 and kb.store.generation() > before
    kb.search("显存")
    assert kb.check().ok, [str(p) for p in kb.check().problems]
    kb.close()
