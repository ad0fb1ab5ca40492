"""Folder sync and backup figures (issue 12).

    .venv/bin/python benchmarks/curate.py [--files 1000] [--embedder hash|builtin] [--corpus ../shared/corpus]

Prints:
- a first sync of a generated folder of N small Markdown notes (in sub-folders), then a second sync
  of the same, unchanged folder: its time (target <= 2 s at 1,000 files) and its embeddings (must be 0);
- export and import of the sample corpus: time each way and the archive's size.
Everything runs in a temporary data folder; nothing of the user's is touched.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402


def settings_for(data: Path, embedder: str) -> Settings:
    return Settings.from_mapping({"storage": {"data_dir": str(data)}, "embedder": {"name": embedder}}, env={},
                                 base_dir=REPO)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--embedder", default="hash")
    p.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        folder = tmp_path / "notes"
        for i in range(args.files):
            f = folder / f"topic{i % 10}" / f"note{i:05}.md"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"# 笔记 {i}\n\n第 {i} 篇笔记：检索增强生成的要点 {i * 31 % 997}。\n", encoding="utf-8")
        settings = settings_for(tmp_path / "data", args.embedder)
        with KnowledgeBase.open(settings, "bench") as kb:
            t0 = time.perf_counter()
            first = kb.sync(folder)
            t1 = time.perf_counter()
            again = kb.sync(folder)
            t2 = time.perf_counter()
        print(f"sync first run:  {args.files} files, {first.count('add')} added, {first.n_embedded} embedded, "
              f"{t1 - t0:.2f} s ({args.embedder})")
        print(f"sync unchanged:  {args.files} files, {again.count('unchanged')} unchanged, {again.n_embedded} "
              f"embedded, {t2 - t1:.2f} s (target <= 2 s, 0 embeddings)")

        corpus = sorted(p for p in Path(args.corpus).iterdir() if p.is_file())
        with KnowledgeBase.open(settings, "corpus") as kb:
            report = kb.ingest(corpus)
            assert report.ok, report
            archive = tmp_path / "corpus.tar"
            t0 = time.perf_counter()
            done = kb.export_archive(archive)
            t1 = time.perf_counter()
        imported = KnowledgeBase.import_archive(settings, archive, "corpus_copy")
        t2 = time.perf_counter()
        print(f"export corpus:   {done.n_documents} documents, {done.n_files} files, archive "
              f"{done.size_bytes / 1e6:.2f} MB, {t1 - t0:.2f} s")
        print(f"import corpus:   {imported.n_documents} documents, {imported.n_chunks} chunks, {t2 - t1:.2f} s "
              f"(verify + extract + open)")


if __name__ == "__main__":
    main()
