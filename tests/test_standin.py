"""The Ollama stand-in speaks Ollama's protocol well enough for the real clients (ollama.md §1, §5).

Driven with the real `langchain_ollama.ChatOllama` / `OllamaEmbeddings` and raw httpx, so a test
that passes here exercises the same parsing code that will meet the real server.
"""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time

import httpx
import ollama
import pytest
from langchain_ollama import ChatOllama, OllamaEmbeddings

from tests.ollama_fixtures import ollama_standin  # noqa: F401 - fixture
from tests.ollama_standin import DEFAULT_REPLY, OllamaStandin, count_tokens, split_pieces


def chat_model(server: OllamaStandin, **kwargs) -> ChatOllama:
    return ChatOllama(model="kb-qwen", base_url=server.url, **kwargs)


# -- chat through ChatOllama --------------------------------------------------------------------------


def test_invoke_returns_the_reply_and_metrics(ollama_standin):
    llm = chat_model(ollama_standin, num_ctx=4096, temperature=0.1, keep_alive="30m")
    message = llm.invoke([("system", "只依据资料回答。"), ("human", "什么是知识库？")])

    assert message.content == DEFAULT_REPLY
    assert message.response_metadata["done_reason"] == "stop"
    assert message.response_metadata["eval_count"] == len(split_pieces(DEFAULT_REPLY))
    assert message.usage_metadata["input_tokens"] == count_tokens("只依据资料回答。什么是知识库？")
    [call] = ollama_standin.calls("/api/chat")
    assert call.method == "POST"
    assert call.body == {
        "model": "kb-qwen", "stream": True, "options": {"num_ctx": 4096, "temperature": 0.1},
        "keep_alive": "30m", "tools": [],
        "messages": [{"role": "system", "content": "只依据资料回答。"}, {"role": "user", "content": "什么是知识库？"}],
    }


def test_stream_yields_pieces_that_add_up_to_the_reply(ollama_standin):
    ollama_standin.reply = "Grounded answer [1]。"
    chunks = [chunk.content for chunk in chat_model(ollama_standin).stream("hi")]

    assert "".join(chunks) == "Grounded answer [1]。"
    assert len([c for c in chunks if c]) == len(split_pieces("Grounded answer [1]。"))
    assert ollama_standin.calls("/api/chat")[0].body["stream"] is True


def test_reply_callable_sees_the_request_body(ollama_standin):
    ollama_standin.reply = lambda body: "echo:" + body["messages"][-1]["content"]
    assert chat_model(ollama_standin).invoke("你好").content == "echo:你好"


def test_delays_are_applied(ollama_standin):
    ollama_standin.reply = "a b c d"
    ollama_standin.first_token_delay = 0.3
    ollama_standin.token_delay = 0.05
    started = time.perf_counter()
    stream = chat_model(ollama_standin).stream("hi")
    next(stream)
    first = time.perf_counter() - started
    list(stream)
    total = time.perf_counter() - started
    assert first >= 0.3
    assert total >= 0.3 + 3 * 0.05


def test_num_predict_and_stop_options_cut_the_reply(ollama_standin):
    ollama_standin.reply = "one two three four"
    short = chat_model(ollama_standin, num_predict=2).invoke("hi")
    assert short.content == "one two"
    assert short.response_metadata["done_reason"] == "length"
    stopped = chat_model(ollama_standin, stop=[" three"]).invoke("hi")
    assert stopped.content == "one two"
    assert stopped.response_metadata["done_reason"] == "stop"


def test_validate_model_on_init_uses_tags(ollama_standin):
    chat_model(ollama_standin, validate_model_on_init=True)  # kb-qwen is listed as kb-qwen:latest
    with pytest.raises(ValueError, match="not found in Ollama"):
        ChatOllama(model="nope", base_url=ollama_standin.url, validate_model_on_init=True)
    assert [r.path for r in ollama_standin.requests] == ["/api/tags", "/api/tags"]


# -- failure modes ------------------------------------------------------------------------------------


def test_500_before_stream(ollama_standin):
    ollama_standin.fail_mode = "500_before_stream"
    with pytest.raises(ollama.ResponseError) as err:
        chat_model(ollama_standin).invoke("hi")
    assert err.value.status_code == 500


def test_404_mode_uses_ollamas_exact_message(ollama_standin):
    ollama_standin.fail_mode = "404"
    with pytest.raises(ollama.ResponseError) as err:
        chat_model(ollama_standin).invoke("hi")
    assert err.value.status_code == 404
    assert err.value.error == "model 'kb-qwen' not found"


def test_error_midstream_arrives_after_some_tokens(ollama_standin):
    ollama_standin.fail_mode = "error_midstream"
    ollama_standin.fail_after = 3
    ollama_standin.error_message = "CUDA error: out of memory"
    received = []
    with pytest.raises(ollama.ResponseError) as err:
        for chunk in chat_model(ollama_standin).stream("hi"):
            received.append(chunk.content)
    assert err.value.status_code == -1  # an {"error"} line under HTTP 200
    assert err.value.error == "CUDA error: out of memory"
    assert "".join(received) == "".join(split_pieces(DEFAULT_REPLY)[:3])


@pytest.mark.timeout(20)
def test_stall_surfaces_as_a_client_timeout(ollama_standin):
    ollama_standin.fail_mode = "stall"
    received = []
    with pytest.raises(httpx.ReadTimeout):
        for chunk in chat_model(ollama_standin, client_kwargs={"timeout": 0.5}).stream("hi"):
            received.append(chunk.content)
    assert len(received) == ollama_standin.fail_after


@pytest.mark.timeout(20)
def test_stall_ends_when_its_timeout_passes(ollama_standin):
    ollama_standin.fail_mode = "stall"
    ollama_standin.stall_timeout = 0.3
    with pytest.raises(httpx.RemoteProtocolError):
        chat_model(ollama_standin).invoke("hi")


@pytest.mark.timeout(20)
def test_stopping_does_not_hang_on_a_stalled_stream():
    server = OllamaStandin().start()
    server.fail_mode = "stall"
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            list(chat_model(server).stream("hi"))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 5
    while not server.calls("/api/chat") and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 2
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert outcome and isinstance(outcome[0], httpx.HTTPError)


# -- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_are_deterministic_and_normalised(ollama_standin):
    embedder = OllamaEmbeddings(model="qwen2.5:1.5b", base_url=ollama_standin.url, keep_alive=300)
    first, same, other = embedder.embed_documents(["苹果手机", "苹果手机", "香蕉牛奶"])

    assert first == same != other
    assert len(first) == 1536  # the model's embedding_length
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert embedder.embed_query("苹果手机") == first
    body = ollama_standin.calls("/api/embed")[0].body
    assert body["input"] == ["苹果手机", "苹果手机", "香蕉牛奶"]
    assert body["keep_alive"] == 300.0
    assert body["options"]["num_ctx"] is None  # langchain sends nulls; the server must accept them


def test_embeddings_reflect_shared_text(ollama_standin):
    embedder = OllamaEmbeddings(model="qwen2.5:1.5b", base_url=ollama_standin.url)
    a, b, c = embedder.embed_documents(["知识库检索增强生成", "知识库检索", "今天天气很好"])
    cosine = lambda x, y: sum(p * q for p, q in zip(x, y))  # noqa: E731
    assert cosine(a, b) > cosine(a, c)


@pytest.mark.parametrize("mode,status", [("500_before_stream", 500), ("404", 404), ("error_midstream", 500)])
def test_embedding_failures(ollama_standin, mode, status):
    ollama_standin.fail_mode = mode
    with pytest.raises(ollama.ResponseError) as err:
        OllamaEmbeddings(model="qwen2.5:1.5b", base_url=ollama_standin.url).embed_query("x")
    assert err.value.status_code == status


@pytest.mark.timeout(20)
def test_embedding_stall_times_out(ollama_standin):
    ollama_standin.fail_mode = "stall"
    embedder = OllamaEmbeddings(model="qwen2.5:1.5b", base_url=ollama_standin.url, client_kwargs={"timeout": 0.5})
    with pytest.raises(httpx.ReadTimeout):
        embedder.embed_query("x")


def test_embed_edge_cases(ollama_standin):
    url = ollama_standin.url
    assert httpx.post(f"{url}/api/embed", json={"model": "qwen2.5:1.5b", "input": []}).json() == {
        "model": "qwen2.5:1.5b", "embeddings": []}
    bad = httpx.post(f"{url}/api/embed", json={"model": "qwen2.5:1.5b", "input": [1]})
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid input type"})
    long = httpx.post(f"{url}/api/embed", json={"model": "qwen2.5:1.5b", "input": "字" * 20000, "truncate": False})
    assert (long.status_code, long.json()["error"]) == (400, "the input length exceeds the context length")
    short = httpx.post(f"{url}/api/embed", json={"model": "qwen2.5:1.5b", "input": "x", "dimensions": 8}).json()
    assert len(short["embeddings"][0]) == 8


# -- raw protocol -------------------------------------------------------------------------------------


def test_ndjson_stream_shape(ollama_standin):
    with httpx.stream("POST", f"{ollama_standin.url}/api/chat",
                      json={"model": "kb-qwen", "messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        raw = response.read().decode()
    lines = raw.split("\n")
    assert lines[-1] == "" and all(lines[:-1])  # one object per line, no blank lines
    parts = [json.loads(line) for line in lines[:-1]]
    assert all(p["message"]["role"] == "assistant" for p in parts)
    assert [p["done"] for p in parts] == [False] * (len(parts) - 1) + [True]
    final = parts[-1]
    assert final["message"]["content"] == "" and final["done_reason"] == "stop"
    for key in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                "eval_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    assert not any("eval_count" in p for p in parts[:-1])


def test_stream_false_and_generate(ollama_standin):
    url = ollama_standin.url
    whole = httpx.post(f"{url}/api/chat", json={"model": "kb-qwen", "stream": False,
                                                "messages": [{"role": "user", "content": "hi"}]})
    assert whole.headers["content-type"].startswith("application/json")
    assert whole.json()["message"] == {"role": "assistant", "content": DEFAULT_REPLY}
    client = ollama.Client(host=url)
    assert client.generate("kb-qwen", prompt="hi").response == DEFAULT_REPLY
    parts = list(client.generate("kb-qwen", prompt="hi", stream=True))
    assert "".join(p.response for p in parts) == DEFAULT_REPLY
    assert parts[-1].done and parts[-1].context == [1, 2, 3]


def test_load_and_unload_with_empty_messages(ollama_standin):
    url = ollama_standin.url
    loaded = httpx.post(f"{url}/api/chat", json={"model": "kb-qwen", "messages": []})
    assert loaded.headers["content-type"].startswith("application/json")  # one object, even when streaming
    assert loaded.json()["done_reason"] == "load" and loaded.json()["message"]["role"] == "assistant"
    [running] = httpx.get(f"{url}/api/ps").json()["models"]
    assert running["name"] == "kb-qwen:latest"
    assert running["size"] == running["size_vram"] > 0
    assert running["context_length"] == 4096 and running["expires_at"]
    unloaded = httpx.post(f"{url}/api/generate", json={"model": "kb-qwen", "keep_alive": 0})
    assert unloaded.json()["done_reason"] == "unload"
    assert httpx.get(f"{url}/api/ps").json() == {"models": []}


def test_loaded_model_knobs(ollama_standin):
    ollama_standin.loaded_size, ollama_standin.loaded_size_vram = 2_000_000_000, 700_000_000
    ollama_standin.loaded_context_length = 8192
    chat_model(ollama_standin).invoke("hi")
    [running] = ollama.Client(host=ollama_standin.url).ps().models
    assert (running.size, running.size_vram, running.context_length) == (2_000_000_000, 700_000_000, 8192)


def test_request_validation(ollama_standin):
    url = ollama_standin.url
    chat = {"model": "kb-qwen", "messages": [{"role": "user", "content": "hi"}]}
    missing = httpx.post(f"{url}/api/chat", json={**chat, "model": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope' not found"})
    assert missing.headers["content-type"] == "application/json; charset=utf-8"
    unit = httpx.post(f"{url}/api/chat", json={**chat, "keep_alive": "300"})
    assert (unit.status_code, unit.json()["error"]) == (400, 'time: missing unit in duration "300"')
    typed = httpx.post(f"{url}/api/chat", json={**chat, "options": {"num_ctx": "big"}})
    assert typed.json()["error"] == 'option "num_ctx" must be of type integer'
    think = httpx.post(f"{url}/api/chat", json={**chat, "think": True})
    assert think.json()["error"] == '"kb-qwen" does not support thinking'
    too_long = httpx.post(f"{url}/api/chat", json={**chat, "truncate": False, "options": {"num_ctx": 8},
                                                    "messages": [{"role": "user", "content": "x" * 100}]})
    assert too_long.json()["error"] == "the input length exceeds the context length"
    assert httpx.post(f"{url}/api/chat", json={**chat, "options": {"top_k": None, "foo": 1}}).status_code == 200
    assert httpx.post(f"{url}/api/chat", content=b"").json() == {"error": "missing request body"}


def test_admin_endpoints(ollama_standin):
    url = ollama_standin.url
    assert httpx.get(url).text == "Ollama is running"
    assert httpx.head(url).status_code == 200
    assert httpx.get(f"{url}/api/version").json() == {"version": "0.12.6"}
    tags = httpx.get(f"{url}/api/tags").json()["models"]
    assert {t["name"] for t in tags} == {t["model"] for t in tags} == {"kb-qwen:latest", "qwen2.5:1.5b"}
    assert all(t["size"] and t["digest"] and t["details"]["family"] == "qwen2" for t in tags)
    show = httpx.post(f"{url}/api/show", json={"model": "kb-qwen"}).json()
    assert show["model_info"]["general.architecture"] == "qwen2"
    assert show["model_info"]["qwen2.block_count"] == 28
    assert show["model_info"]["qwen2.context_length"] == 32768
    assert f'{"stop":<30} "<|im_start|>"' in show["parameters"].split("\n")
    assert f'{"num_ctx":<30} 4096' in show["parameters"].split("\n")
    assert show["capabilities"] == ["completion", "tools"]  # qwen2.5's template names .Tools, not .Suffix
    assert show["system"] and "<|im_start|>" in show["template"]
    assert httpx.post(f"{url}/api/show", json={"model": "x"}).json() == {"error": "model 'x' not found"}
    nowhere = httpx.get(f"{url}/api/nowhere")
    assert (nowhere.status_code, nowhere.text) == (404, "404 page not found")
    assert httpx.get(f"{url}/api/chat").status_code == 405


def test_pull_create_blobs_delete(ollama_standin):
    url = ollama_standin.url
    client = ollama.Client(host=url)
    progress = list(client.pull("qwen2.5:0.5b", stream=True))
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    assert any(p.total and p.completed == p.total for p in progress)
    assert client.pull("qwen2.5:3b").status == "success"  # stream:false -> only the last object
    assert {"qwen2.5:0.5b", "qwen2.5:3b"} <= set(ollama_standin.models)

    neither = httpx.post(f"{url}/api/create", json={"model": "m"})
    assert (neither.status_code, neither.json()) == (400, {"error": "neither 'from' or 'files' was specified"})
    created = list(client.create("mine", from_="qwen2.5:0.5b", system="hi", parameters={"num_ctx": 2048},
                                 stream=True))
    assert created[-1].status == "success"
    assert client.show("mine").parameters.splitlines()[0] == f'{"num_ctx":<30} 2048'

    data = b"GGUF fake weights"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.head(f"{url}/api/blobs/{digest}").status_code == 404
    wrong = httpx.post(f"{url}/api/blobs/{digest}", content=b"other bytes")
    assert wrong.status_code == 400 and "digest mismatch" in wrong.json()["error"]
    assert httpx.post(f"{url}/api/blobs/{digest}", content=data).status_code == 201
    assert httpx.head(f"{url}/api/blobs/{digest}").status_code == 200
    assert client.create("fromfile", files={"x.gguf": digest}).status == "success"

    deleted = httpx.request("DELETE", f"{url}/api/delete", json={"model": "mine"})
    assert (deleted.status_code, deleted.content) == (200, b"")
    again = httpx.request("DELETE", f"{url}/api/delete", json={"model": "mine"})
    assert (again.status_code, again.json()) == (404, {"error": "model 'mine' not found"})


def test_pull_of_an_unknown_name_fails_like_ollama(ollama_standin):
    ollama_standin.pullable = {"qwen2.5:1.5b"}
    with pytest.raises(ollama.ResponseError) as err:
        list(ollama.Client(host=ollama_standin.url).pull("nope:1b", stream=True))
    assert err.value.error == "pull model manifest: file does not exist"


def test_requests_are_recorded(ollama_standin):
    client = ollama.Client(host=ollama_standin.url)
    client.list()
    client.show("kb-qwen")
    httpx.head(f"{ollama_standin.url}/api/blobs/sha256:{'0' * 64}")
    requests = ollama_standin.requests
    assert [(r.method, r.path) for r in requests] == [
        ("GET", "/api/tags"), ("POST", "/api/show"), ("HEAD", f"/api/blobs/sha256:{'0' * 64}")]
    assert requests[1].body == {"model": "kb-qwen"}
    assert requests[0].time <= requests[1].time <= requests[2].time
    assert requests[1].headers["user-agent"].startswith("ollama-python/")
    assert len(ollama_standin.calls("/api/blobs")) == 1
    assert ollama_standin.calls("/api/show", method="GET") == []
    ollama_standin.clear_requests()
    assert ollama_standin.requests == []


# -- misbehaviours, for the client's deadlines -------------------------------------------------------


def _raw_post(server: OllamaStandin, path: str, body: dict, want: int) -> bytes:
    import socket

    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        data = b""
        while len(data) < want:
            part = s.recv(want - len(data))
            if not part:
                break
            data += part
    return data


def test_dribble_headers_never_finishes_the_head(ollama_standin):
    ollama_standin.fail_mode = "dribble_headers"
    ollama_standin.dribble_interval = 0.001
    head = _raw_post(ollama_standin, "/api/chat", {"model": "kb-qwen", "messages": []}, 400)
    assert head.startswith(b"HTTP/1.1 200 OK\r\nX-Dribble: ") and b"\r\n\r\n" not in head


def test_dribble_body_never_finishes_a_line(ollama_standin):
    ollama_standin.fail_mode = "dribble_body"
    ollama_standin.dribble_interval = 0.001
    data = _raw_post(ollama_standin, "/api/tags", {}, 600)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"application/x-ndjson" in head and b"chunked" in head.lower()
    assert body.startswith(b"1\r\n{\r\n") and b"\n}" not in body and body.count(b"1\r\n \r\n") > 10


def test_endless_ignores_num_predict_and_never_says_done(ollama_standin):
    ollama_standin.fail_mode = "endless"
    with httpx.stream("POST", f"{ollama_standin.url}/api/chat", timeout=30,
                      json={"model": "kb-qwen", "messages": [{"role": "user", "content": "hi"}],
                            "options": {"num_predict": 3}}) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(json.loads(line))
            if len(lines) == 50:
                break
    assert len(lines) == 50 and not any(line["done"] for line in lines)
