"""kill -9 at random points of an ingest; two writers at once; two sessions sharing one knowledge base."""
from __future__ import annotations

import random
import shutil
import threading
import time

from kb import KnowledgeBase

from ..conftest import corpus_files, make_settings
from .helpers import kb_cli, kb_popen


def _copies(tmp_path, n):
    """n distinct files (the corpus under other names, each changed a little) so an ingest takes a while."""
    out = []
    src = corpus_files()
    for i in range(n):
        f = src[i % len(src)]
        dst = tmp_path / "in" / f"{i:02d}_{f.name}"
        dst.parent.mkdir(exist_ok=True)
        data = f.read_bytes()
        if f.suffix == ".md":
            data += f"\n\n## 副本 {i}\n\n这是第 {i} 份副本。\n".encode()
        dst.write_bytes(data)
        out.append(dst)
    return out


def test_kill_9_during_ingest_never_breaks_the_knowledge_base(tmp_path):
    data = tmp_path / "data"
    files = [str(p) for p in _copies(tmp_path, 10)]
    rng = random.Random(20261124)
    trials = 20
    for trial in range(trials):
        proc = kb_popen(data, "ingest", *files, "--kb", "notes", "--no-progress")
        time.sleep(rng.uniform(0.3, 3.0))
        proc.kill()
        proc.wait()
        check = kb_cli(data, "check", "--kb", "notes", "--json") if (data / "kbs" / "notes").exists() else None
        if check is not None and "There is no knowledge base" not in check.stdout + check.stderr:
            assert check.returncode == 0, f"trial {trial}: {check.stdout} {check.stderr}"
    final = kb_cli(data, "ingest", *files, "--kb", "notes", "--no-progress", "--json")
    assert final.returncode == 0, final.stderr
    assert kb_cli(data, "check", "--kb", "notes").returncode == 0
    with KnowledgeBase.open(make_settings(data), "notes", create=False) as kb:
        assert len(kb.documents()) == len(files)


def test_two_processes_ingesting_and_deleting_lose_nothing(tmp_path):
    data = tmp_path / "data"
    files = _copies(tmp_path, 8)
    first, second = files[:4], files[4:]
    assert kb_cli(data, "ingest", str(first[0]), "--kb", "notes", "--no-progress").returncode == 0
    a = kb_popen(data, "ingest", *map(str, first[1:]), "--kb", "notes", "--no-progress")
    b = kb_popen(data, "ingest", *map(str, second), "--kb", "notes", "--no-progress")
    time.sleep(0.5)
    deleted = kb_cli(data, "delete", first[0].name, "--kb", "notes")
    assert a.wait(timeout=300) == 0 and b.wait(timeout=300) == 0, (a.stderr.read(), b.stderr.read())
    assert deleted.returncode == 0, deleted.stderr
    with KnowledgeBase.open(make_settings(data), "notes", create=False) as kb:
        names = {d.file_name for d in kb.documents()}
        assert names == {p.name for p in files[1:]}
        assert kb.check().ok


def test_two_sessions_share_one_knowledge_base_safely(tmp_path):
    """Two browser sessions share the cached KnowledgeBase: one uploads while the other searches."""
    settings = make_settings(tmp_path / "data")
    files = _copies(tmp_path, 6)
    errors: list[BaseException] = []
    with KnowledgeBase.open(settings, "notes") as kb:
        kb.ingest(files[:1])

        def searcher():
            try:
                for _ in range(40):
                    assert kb.search("模型 训练", k=5).results
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the test thread
                errors.append(exc)

        def uploader():
            try:
                kb.ingest_bytes([(p.name, p.read_bytes()) for p in files[1:]])
                kb.delete(files[1].name)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=searcher), threading.Thread(target=uploader), threading.Thread(target=searcher)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        assert len(kb.documents()) == len(files) - 1
        assert kb.check().ok
    shutil.rmtree(tmp_path / "in")
