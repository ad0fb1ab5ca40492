"""Two `python -m kb serve` processes on one PostgreSQL knowledge base (two machines sharing it) answer
/api/search and /v1/chat/completions (the real openai client, the Ollama stand-in behind both) while
four processes ingest and delete in it: every answer is whole (one committed version of each document,
every chunk's text matching its hash), and at the end the knowledge base holds exactly what the writers
acknowledged, both servers list it, and `check` passes."""
from __future__ import annotations

import hashlib
import re
import threading
from collections import defaultdict

import httpx
import openai
import pytest

from kb import KnowledgeBase

from ..ollama_standin import OllamaStandin
from ..pg_server import pg_server, pg_settings, pg_url  # noqa: F401 (fixtures)
from ..test_api import ANSWER, Server
from .test_pg_concurrency import acknowledged, assert_exactly, start_writers, wait_for

VERSION = re.compile(r"第 (\d+) [版段]")  # pg_worker.py writes its version into every paragraph
FILE = re.compile(r"w\d-\d\.md")


def whole(items: list[tuple[str, str, str]]) -> list[str]:
    """What is wrong with one answer's chunks, given (file, text, content hash) of each."""
    wrong = []
    versions: dict[str, set[str]] = defaultdict(set)
    for file, text, content_hash in items:
        if not FILE.fullmatch(file or ""):
            wrong.append(f"unknown file {file!r}")
        if content_hash and hashlib.sha256(text.encode("utf-8")).hexdigest()[:len(content_hash)] != content_hash:
            wrong.append(f"{file}: text does not match its hash")
        versions[file].update(VERSION.findall(text))
    wrong += [f"{f}: chunks of versions {sorted(v)} in one answer" for f, v in versions.items() if len(v) > 1]
    return wrong


ROUNDS = 6  # each reader thread: this many (search, chat) pairs, alternating servers, while the writers write


class Readers:
    """Two threads asking both servers, a search and a chat a round, ROUNDS rounds each."""

    def __init__(self, servers: list[Server]):
        self.servers = servers
        self.problems: list[str] = []
        self.answered: dict[tuple[int, str], int] = defaultdict(int)
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(2)]

    def _note(self, server: int, kind: str, wrong: list[str]) -> None:
        with self._lock:
            self.problems += [f"server {server} {kind}: {w}" for w in wrong]
            self.answered[(server, kind)] += 1

    def _run(self, who: int) -> None:
        clients = [openai.OpenAI(base_url=f"{s.url}/v1", api_key="unused", max_retries=0, timeout=120)
                   for s in self.servers]
        for n in range(1, ROUNDS + 1):
            at = (n + who) % 2
            server = self.servers[at]
            query = f"w{n % 4} 的第 {n % 12 + 1} 段内容"
            try:
                r = httpx.post(f"{server.url}/api/search", json={"kb": "shared", "query": query, "k": 8},
                               timeout=120)
                if r.status_code != 200:
                    self._note(at, "search", [f"status {r.status_code}: {r.text[:300]}"])
                else:
                    res = r.json()["results"]
                    self._note(at, "search", whole([(x["chunk"]["file_name"], x["chunk"]["text"],
                                                     x["chunk"]["content_hash"]) for x in res]))
                reply = clients[at].chat.completions.create(model="shared",
                                                            messages=[{"role": "user", "content": query}])
                message = reply.choices[0].message
                cites = message.model_extra.get("citations") or []
                wrong = [] if message.content else ["an empty answer"]
                if cites and message.content != ANSWER:
                    wrong.append(f"answer {message.content[:100]!r} is not the model's")
                self._note(at, "chat", wrong + whole([(c["file"], c["text"], "") for c in cites]))
            except Exception as exc:  # every failure of any kind is a finding
                self._note(at, "request", [f"{type(exc).__name__}: {exc}"])


@pytest.fixture
def standin():
    with OllamaStandin() as server:
        server.reply = ANSWER  # a first turn is never rewritten: every chat call is the answer
        yield server


def test_two_servers_answer_whole_while_four_writers_ingest_and_delete(tmp_path, pg_url, standin):
    data = tmp_path / "writers"
    settings = pg_settings(data, pg_url)
    with KnowledgeBase.open(settings, "shared") as kb:
        kb.ingest_bytes([("w0-0.md", "# w0 第 0 版\n\nw0 的第 0 段内容 0。".encode("utf-8"))])  # not empty at start
    storage = f'backend = "postgres"\nurl = "{pg_url}"\n'
    servers = [Server(tmp_path / f"machine{i}", "127.0.0.1", standin.url, storage=storage) for i in range(2)]
    procs, acks, go = start_writers(tmp_path, data, pg_url, ops=0)
    try:
        for s in servers:
            s.start()
        readers = Readers(servers)
        go.touch()  # the writers write until go.stop: every request below is made while they do
        for t in readers.threads:
            t.start()
        for t in readers.threads:
            t.join()
        (tmp_path / "go.stop").touch()
        wait_for(procs)
        assert not readers.problems, readers.problems[:20]
        assert all(readers.answered[(i, kind)] == ROUNDS for i in range(2) for kind in ("search", "chat")), \
            dict(readers.answered)
        present = acknowledged(acks)
        if "w0-0.md" not in present and not any(a.read_text().count("w0-0.md") for a in acks):
            present["w0-0.md"] = hashlib.sha256("# w0 第 0 版\n\nw0 的第 0 段内容 0。".encode("utf-8")).hexdigest()
        for s in servers:
            listed = httpx.get(f"{s.url}/api/documents", params={"kb": "shared"}, timeout=120).json()["documents"]
            assert sorted(d["file_name"] for d in listed) == sorted(present)
        ids = [[x["chunk"]["id"] for x in httpx.post(f"{s.url}/api/search", timeout=120, json={
            "kb": "shared", "query": "w1 的第 3 段内容", "k": 8}).json()["results"]] for s in servers]
        assert ids[0] == ids[1] and ids[0]
        with KnowledgeBase.open(settings, "shared") as kb:
            assert_exactly(kb, present)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for s in servers:
            if s.proc is not None:
                s.stop()
