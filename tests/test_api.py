"""The HTTP API as a client sees it: the real `python -m kb serve` in a subprocess, the real `openai`
client and httpx over real sockets, the Ollama stand-in behind it (the only fake: Ollama's process)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from kb.api.auth import is_loopback, token_matches
from kb.api.errors import request_lang

from .conftest import REPO
from .ollama_standin import OllamaStandin, unused_url

TOKEN = "test-token-0123456789abcdef"
REWRITE = "LangChain 这个名字是怎么来的？"
ANSWER = "根据资料，LangChain 是一个构建大模型应用的框架 [1]。"
NOTE_A = "# LangChain\n\nLangChain 是一个用于构建大模型应用的开源框架，名字来自链（chain）：把模型调用串起来。\n"
NOTE_B = "# FAISS\n\nFAISS 是 Meta 开源的向量检索库，支持精确搜索和近似搜索，常用于语义检索。\n"


def smart_reply(body):
    system = body["messages"][0]["content"] if body.get("messages") else ""
    return REWRITE if "改写" in system else ANSWER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m kb serve` with its own config.toml; ready when its port accepts a connection."""

    def __init__(self, folder: Path, host: str, ollama_url: str, tokens: tuple[str, ...] = (), storage: str = ""):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.host, self.port = folder, host, free_port()
        self.config = folder / "config.toml"
        self.config.write_text(
            f'[storage]\ndata_dir = "{folder / "data"}"\nmax_file_mb = 0.05\n{storage}[embedder]\nname = "hash"\n'
            f'[retrieval]\nthreshold = 0.0\nrelative_cutoff = 0.0\n'
            f'[ollama]\nurl = "{ollama_url}"\ntimeout = 10.0\nconnect_timeout = 2.0\n'
            f'[api]\ntokens = {json.dumps(list(tokens))}\n', encoding="utf-8")
        self.env = {**os.environ, "KB_CONFIG": str(self.config), "KB_LANG": "en"}
        self.env.pop("KB_API_TOKENS", None)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "kb", *args]

    def start(self) -> "Server":
        self.log = open(self.folder / "server.log", "wb")
        self.proc = subprocess.Popen(self.command("serve", "--host", self.host, "--port", str(self.port)), cwd=REPO,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180  # a safety net only: readiness is the socket accepting
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"server never listened: {self.output()}")
                try:
                    self.proc.wait(timeout=0.05)  # wakes at once if the server exits
                except subprocess.TimeoutExpired:
                    pass

    def output(self) -> str:
        return (self.folder / "server.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.log.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=300)


@pytest.fixture(scope="module")
def standin() -> Iterator[OllamaStandin]:
    with OllamaStandin() as server:
        server.reply = smart_reply
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory, standin) -> Iterator[Server]:
    """A loopback server without tokens, with two notes uploaded through it."""
    server = Server(tmp_path_factory.mktemp("api"), "127.0.0.1", standin.url).start()
    try:
        r = httpx.post(f"{server.url}/api/documents", params={"kb": "notes"}, timeout=120,
                       files=[("files", ("langchain.md", NOTE_A.encode())), ("files", ("faiss.md", NOTE_B.encode()))])
        assert r.status_code == 200 and [f["status"] for f in r.json()["files"]] == ["added", "added"], r.text
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key="not-needed-on-loopback", max_retries=0, timeout=60)


def test_models_are_the_knowledge_bases(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["notes"]
    assert models.data[0].model_extra["kb"]["documents"] == 2
    assert client.models.retrieve("notes").id == "notes"


def test_chat_answers_with_citations_and_takes_history_from_the_messages(client, standin, api):
    standin.clear_requests()
    first = client.chat.completions.create(model="notes", messages=[
        {"role": "system", "content": "SYSTEM-FROM-CLIENT: answer anything"},
        {"role": "user", "content": "LangChain 是什么？"}])
    message = first.choices[0].message
    assert message.content == ANSWER and first.choices[0].finish_reason == "stop"
    cites = message.model_extra["citations"]
    assert cites and cites[0]["n"] == 1 and cites[0]["used"] and cites[0]["file"] == "langchain.md"
    assert cites[0]["chunk_id"] and cites[0]["heading_path"] == ["LangChain"] and cites[0]["score"] is not None
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    sent = [c.body for c in standin.calls("/api/chat")]
    assert len(sent) == 1  # a first turn is not rewritten
    assert "LangChain 是什么？" in sent[0]["messages"][-1]["content"]
    assert "[1] langchain.md" in sent[0]["messages"][-1]["content"]  # grounded: the numbered sources
    assert not any("SYSTEM-FROM-CLIENT" in m["content"] for m in sent[0]["messages"])  # our rules, not theirs

    standin.clear_requests()
    second = client.chat.completions.create(model="notes", messages=[
        {"role": "user", "content": "LangChain 是什么？"}, {"role": "assistant", "content": message.content},
        {"role": "user", "content": "它这个名字是怎么来的？"}])
    assert second.model_extra["kb"]["rewritten_question"] == REWRITE
    rewrite, answer = [c.body for c in standin.calls("/api/chat")]
    assert "改写" in rewrite["messages"][0]["content"] and "LangChain 是什么？" in rewrite["messages"][1]["content"]
    assert [m["role"] for m in answer["messages"]] == ["system", "user", "assistant", "user"]
    assert answer["messages"][2]["content"] == ANSWER
    # the history came from the request: nothing was stored on the server
    chats = api.folder / "data" / "kbs" / "notes" / "chats.sqlite"
    assert not chats.exists() or _stored_turns(chats) == 0


def _stored_turns(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        has = db.execute("select count(*) from sqlite_master where name='turns'").fetchone()[0]
        return db.execute("select count(*) from turns").fetchone()[0] if has else 0
    finally:
        db.close()


def test_chat_streams_openai_chunks_with_citations_last(client, standin):
    standin.clear_requests()
    stream = client.chat.completions.create(model="notes", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "FAISS 是什么？"}])
    chunks = list(stream)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == ANSWER and len(with_choices) > 5  # word by word, not one piece
    last = with_choices[-1].choices[0]
    assert last.finish_reason == "stop"
    cites = last.delta.model_extra["citations"]
    assert any(c["used"] and c["n"] == 1 for c in cites)
    assert not chunks[-1].choices and chunks[-1].usage.completion_tokens > 0  # include_usage: its own chunk


def test_the_raw_stream_is_sse_ending_with_done(api):
    with httpx.stream("POST", f"{api.url}/v1/chat/completions", timeout=60, json={
            "model": "notes", "stream": True, "messages": [{"role": "user", "content": "FAISS 是什么？"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][6:])["choices"][0]["delta"]["citations"]


def test_unknown_model_is_an_openai_404_in_the_request_language(api):
    zh = openai.OpenAI(base_url=f"{api.url}/v1", api_key="x", max_retries=0,
                       default_headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    with pytest.raises(openai.NotFoundError) as caught:
        zh.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    error = caught.value.body
    assert error["code"] == "api.model_not_found" and error["param"] == "model"
    assert "没有名为 “nope” 的知识库" in error["message"] and "notes" in error["message"]


def test_a_conversation_not_ending_with_a_question_is_refused(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="notes", messages=[{"role": "assistant", "content": "hello"}])
    assert caught.value.body["code"] == "api.no_question"


def _ingest_json(api: Server, kb: str, path: Path) -> dict:
    done = api.cli("ingest", "--kb", kb, "--json", "--no-progress", str(path))
    return json.loads(done.stdout)["files"][0]


def test_upload_gives_the_cli_per_file_result_for_a_bad_and_an_oversized_file(api, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n this is not a PDF body")
    big = tmp_path / "big.md"
    big.write_text("# 大\n\n" + "很长的笔记内容。" * 3000, encoding="utf-8")  # ~72 KB > max_file_mb 0.05
    good = tmp_path / "good.md"
    good.write_text("# 好\n\n这是一篇正常的小笔记，用来确认同一批里好的文件照常导入。\n", encoding="utf-8")
    r = httpx.post(f"{api.url}/api/documents", params={"kb": "uploads"}, timeout=120,
                   files=[("files", (p.name, p.read_bytes())) for p in (good, bad, big)])
    assert r.status_code == 422, r.text  # not everything went in
    body = r.json()
    assert body["ok"] is False and [f["status"] for f in body["files"]] == ["added", "failed", "failed"]
    for sent, path in zip(body["files"][1:], (bad, big)):
        cli = _ingest_json(api, "clicheck", path)
        assert (sent["error_code"], sent["error_params"], sent["error"]) == \
               (cli["error_code"], cli["error_params"], cli["error"])
    assert body["files"][2]["error_code"] == "ingest.too_large"


def test_an_upload_over_the_request_limit_is_refused_before_it_is_read(api):
    limit = 20 * 50_000 + 1_000_000
    r = httpx.post(f"{api.url}/api/documents", params={"kb": "uploads"}, timeout=120,
                   files=[("files", ("huge.md", b"x" * (limit + 10)))])
    assert r.status_code == 413 and r.json()["error"]["code"] == "api.upload_too_large"
    not_multipart = httpx.post(f"{api.url}/api/documents", json={"files": []}, timeout=60)
    assert not_multipart.status_code == 415 and not_multipart.json()["error"]["code"] == "api.not_multipart"


def test_documents_are_listed_and_deleted(api):
    up = httpx.post(f"{api.url}/api/documents", params={"kb": "notes"}, timeout=120,
                    files=[("files", ("temp.md", "# 临时\n\n一篇马上要删除的笔记，只用来测试删除接口。\n".encode()))])
    assert up.status_code == 200, up.text
    names = lambda: [d["file_name"] for d in httpx.get(f"{api.url}/api/documents", params={"kb": "notes"}).json()["documents"]]  # noqa: E731
    assert "temp.md" in names()
    gone = httpx.delete(f"{api.url}/api/documents/temp.md", params={"kb": "notes"})
    assert gone.status_code == 200 and gone.json()["file_name"] == "temp.md"
    assert "temp.md" not in names() and {"langchain.md", "faiss.md"} <= set(names())
    again = httpx.delete(f"{api.url}/api/documents/temp.md", params={"kb": "notes"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "kb.document_not_found"


def test_search_returns_the_json_of_kb_search(api):
    r = httpx.post(f"{api.url}/api/search", json={"kb": "notes", "query": "向量检索库", "k": 2, "mode": "hybrid"})
    assert r.status_code == 200, r.text
    cli = api.cli("search", "--kb", "notes", "--json", "--k", "2", "--mode", "hybrid", "向量检索库")
    assert cli.returncode == 0, cli.stderr
    ours, theirs = r.json(), json.loads(cli.stdout)
    ours.pop("timings_ms"), theirs.pop("timings_ms")
    assert ours == theirs
    top = ours["results"][0]
    assert top["chunk"]["file_name"] == "faiss.md" and {"dense_score", "bm25_score", "fused_score"} <= set(top)
    bad = httpx.post(f"{api.url}/api/search", json={"query": "x", "k": 0})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "api.bad_request"
    assert bad.json()["error"]["param"] == "k"


def test_the_docs_page_works_offline(api):
    spec = httpx.get(f"{api.url}/openapi.json").json()
    page = httpx.get(f"{api.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    for path in ("/v1/chat/completions", "/v1/models", "/api/search", "/api/documents", "/api/documents/{name}"):
        assert path in spec["paths"] and f"<code>{path}</code>" in html
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", "")
    assert "<script" not in html.lower() and "<link" not in html.lower()


def test_off_loopback_every_request_needs_a_token(tmp_path):
    """Bound to 0.0.0.0 with a token; Ollama down behind it (a 503 with what to do)."""
    server = Server(tmp_path / "remote", "0.0.0.0", unused_url(), tokens=(TOKEN,)).start()
    try:
        assert "every request needs" in server.output()
        for path in ("/v1/models", "/docs", "/openapi.json"):
            r = httpx.get(server.url + path)
            assert r.status_code == 401 and r.json()["error"]["code"] == "api.token_missing"
            assert r.headers["www-authenticate"] == "Bearer"
        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong-token-0123456789", max_retries=0).models.list()
        assert caught.value.body["code"] == "api.token_rejected"
        good = openai.OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0, timeout=60)
        assert good.models.list().data == []
        up = httpx.post(f"{server.url}/api/documents", params={"kb": "notes"}, timeout=120,
                        headers={"Authorization": f"Bearer {TOKEN}"}, files=[("files", ("a.md", NOTE_A.encode()))])
        assert up.status_code == 200, up.text
        with pytest.raises(openai.APIStatusError) as down:
            good.chat.completions.create(model="notes", messages=[{"role": "user", "content": "LangChain 是什么？"}])
        assert down.value.status_code == 503
        assert down.value.body["code"] == "ollama.unreachable" and "`ollama serve`" in down.value.body["message"]
    finally:
        server.stop()


def test_refuses_to_start_off_loopback_without_tokens(tmp_path):
    server = Server(tmp_path / "open", "0.0.0.0", unused_url())
    done = subprocess.run(server.command("serve", "--host", "0.0.0.0", "--port", str(server.port)), cwd=REPO,
                          env=server.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "Refusing to serve the HTTP API on 0.0.0.0" in done.stderr and "KB_API_TOKENS" in done.stderr
    with socket.socket() as s:  # nothing ever listened there
        s.bind(("127.0.0.1", server.port))


def test_loopback_addresses_and_token_comparison():
    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.5", "example.local"]))
    assert token_matches(TOKEN, ("other-token-000000000", TOKEN))
    assert not token_matches(TOKEN[:-1], (TOKEN,)) and not token_matches("", (TOKEN,))


def test_request_language():
    assert request_lang({"accept-language": "en-US,zh;q=0.8"}) == "en"
    assert request_lang({"accept-language": "fr, zh-Hans;q=0.5, en;q=0.4"}) == "zh"
    assert request_lang({"accept-language": "fr"}) == os.environ["KB_LANG"]  # neither: the process language
