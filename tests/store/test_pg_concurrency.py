"""Four processes ingesting and deleting in one knowledge base on a real PostgreSQL at once: every
acknowledged write is there exactly once (no lost, no duplicated chunks), and `check` passes."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from kb import KnowledgeBase

from ..pg_server import pg_server, pg_settings, pg_url  # noqa: F401 (fixtures)

WORKER = Path(__file__).with_name("pg_worker.py")
OPS = 12


def start_writers(folder: Path, data: Path, url: str, n: int = 4, ops: int = OPS) -> tuple[list, list[Path], Path]:
    """n pg_worker.py processes, waiting for the returned go file; (processes, their ack files, go file).
    ops 0: each writes until `go.stop` exists (pg_worker.py)."""
    go = folder / "go"
    acks = [folder / f"ack{i}.txt" for i in range(n)]
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(data), url, f"w{i}", str(ops), str(go), str(ack)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i, ack in enumerate(acks)]
    return procs, acks, go


def wait_for(procs: list) -> None:
    for p in procs:
        _, err = p.communicate(timeout=900)  # a safety net only
        assert p.returncode == 0, err[-2000:]


def acknowledged(acks: list[Path]) -> dict[str, str]:
    """{file name: sha256 of its last acknowledged content} of the documents the writers left in place."""
    expected: dict[str, str | None] = {}
    for ack in acks:
        lines = ack.read_text(encoding="utf-8").splitlines()
        assert lines[-1] == "done" and not [ln for ln in lines if ln.startswith("error")], lines
        for ln in lines[:-1]:
            parts = ln.split()
            expected[parts[1]] = parts[2] if parts[0] == "add" else None
    present = {k: v for k, v in expected.items() if v is not None}
    assert present, "the workers acknowledged no document"
    return present


def assert_exactly(kb: KnowledgeBase, present: dict[str, str]) -> None:
    """The knowledge base holds exactly the acknowledged documents, each chunk once, and passes check."""
    docs = {d.file_name: d for d in kb.documents()}
    assert {n: d.file_hash for n, d in docs.items()} == present
    chunks = kb.chunks()
    assert len({c.id for c in chunks}) == len(chunks)
    per_doc = Counter(c.file_name for c in chunks)
    assert per_doc == Counter({n: d.n_chunks for n, d in docs.items()})
    for name in docs:
        assert sorted(c.position for c in chunks if c.file_name == name) == list(range(per_doc[name]))
    with kb.store.read() as view:
        n_docs, n_chunks, n_vectors = view.counts()
    assert (n_docs, n_chunks, n_vectors) == (len(docs), len(chunks), len(chunks))
    report = kb.check()
    assert report.ok, report.problems


def test_four_writers_lose_and_duplicate_nothing(tmp_path, pg_url):
    data = tmp_path / "data"
    settings = pg_settings(data, pg_url)
    with KnowledgeBase.open(settings, "shared"):
        pass  # created once, before the writers race to open it
    procs, acks, go = start_writers(tmp_path, data, pg_url)
    go.touch()
    wait_for(procs)
    present = acknowledged(acks)
    with KnowledgeBase.open(settings, "shared") as kb:
        assert_exactly(kb, present)
