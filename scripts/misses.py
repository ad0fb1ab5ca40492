"""Print each question missed at 5: its evidence chunk(s) and where they rank in the dense list,
the keyword list and the fused result (the analysis to do before changing retrieval).

    KB_DATA_DIR=... python scripts/misses.py QUESTIONS.jsonl KB [--k 5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.search.evaluate import first_hit_rank, load_items  # noqa: E402
from kb.search.retrieval import expand_with_history, is_follow_up, query_terms  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("questions")
    p.add_argument("kb")
    p.add_argument("--k", type=int, default=5)
    a = p.parse_args()
    items = [i for i in load_items(Path(a.questions)) if i.answerable]
    with KnowledgeBase.open(Settings.load(), a.kb, create=False) as kb:
        with kb.store.read() as view:
            snap = kb.indexes.at(view)
            ids, _ = view.terms()
            chunks = view.chunks_by_rowid(ids)
        vecs = snap.vectors_for(ids)
        for item in items:
            result = kb.search(item.question, k=10, history=list(item.history))
            rank = first_hit_rank([r.chunk.text for r in result.results], item.evidence)
            if rank is not None and rank <= a.k:
                continue
            hist = list(item.history)
            follow = bool(hist) and is_follow_up(item.question, hist)
            text = expand_with_history(item.question, hist) if follow else item.question
            terms = query_terms(item.question, text, follow)
            dense = vecs @ kb.embedder.embed_query(text)
            d_order = [ids[j] for j in np.argsort(-dense)]
            bm = snap.keyword_scores(terms, ids)
            b_order = sorted(bm, key=lambda i: -bm[i].score)
            wanted = [i for i in ids if first_hit_rank([chunks[i].text], item.evidence)]
            print(f"== {item.id} [{item.kind}] fused rank {rank}: {item.question}")
            print(f"   searched: {text[:120]}  terms: {' '.join(terms)}")
            for i in wanted:
                c = chunks[i]
                br = b_order.index(i) + 1 if i in bm else None
                print(f"   evidence chunk {c.file_name} {' > '.join(c.heading_path)[-60:]}: dense #{d_order.index(i) + 1} "
                      f"({dense[ids.index(i)]:.3f}), bm25 #{br}")
                print(f"     {c.text[:160]!r}")
            top = result.results[0]
            print(f"   top-1 instead: {top.chunk.file_name} dense {top.dense_score:.3f} {top.chunk.text[:80]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
