"""Input-path figures: decoding (charset sniffing), Markdown parsing, jieba start-up, CLI cold start.

Prints figures; asserts nothing. `python benchmarks/inputs.py`
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb.ingest.loaders import decode_text, parse_markdown  # noqa: E402

SENTENCE = "本文介绍如何在本地部署大语言模型，并使用向量数据库进行检索增强生成。\n"


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def child(code: str, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    text = SENTENCE * 100_000
    for encoding in ("utf-8", "gbk", "big5", "shift_jis"):
        data = (text if encoding != "shift_jis" else "これは日本語の文書です。ベクトル検索を使います。\n" * 100_000)
        if encoding == "big5":
            data = "本文介紹如何在本地部署大語言模型，並使用向量資料庫進行檢索。\n" * 100_000
        raw = data.encode(encoding)
        s = timed(lambda: decode_text("x.txt", raw))
        print(f"decode {encoding:9} {len(raw) / 1e6:6.1f} MB  {s:6.3f} s  {len(raw) / 1e6 / s:7.1f} MB/s")
    md = "".join(f"## 第{i}节\n\n{SENTENCE * 3}\n- 列表项一\n- 列表项二\n\n```\ncode {i}\n```\n\n" for i in range(5000))
    s = timed(lambda: parse_markdown(md))
    print(f"parse_markdown {len(md.encode()) / 1e6:.1f} MB  {s:.3f} s  {len(md.encode()) / 1e6 / s:.1f} MB/s")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["PYTHONPATH"] = str(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        warm = "from kb import textproc; textproc.use_data_dir(%r); textproc.warm_up()" % tmp
        first = child(warm, env)  # builds and writes <data_dir>/cache/jieba.cache
        cached = statistics.median(child(warm, env) for _ in range(3))
        bare = statistics.median(child("from kb import textproc; textproc.warm_up()", env) for _ in range(3))
        print(f"jieba start-up (process incl. import): first {first:.2f} s, with data_dir cache {cached:.2f} s, "
              f"no cache {bare:.2f} s")
        env["KB_DATA_DIR"] = tmp
        env["KB_EMBEDDER"] = "hash"
        cli = statistics.median(child("from kb.cli import main; main(['kbs'])", env) for _ in range(3))
        print(f"CLI cold start `kbs`: {cli:.2f} s (median of 3)")


if __name__ == "__main__":
    main()
