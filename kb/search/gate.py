"""The docs-only gate, calibrated on the knowledge base's own chunks instead of hand-set constants.

Cosine scales differ by embedder (the builtin e5 squeezes everything into 0.80-0.95; an Ollama
model may spread over 0.2-0.9), and within one embedder by corpus. So no similarity threshold is
written down anywhere. Instead each knowledge base measures, once per database generation,
what a question about something it does *not* hold looks like:

* pseudo-questions: one sentence (12-40 characters) from each of up to `N_PSEUDO` chunks,
  chosen by a fixed-seed sample so the calibration is reproducible;
* each is searched, dense only, against every chunk *except those of its own document*
  (leave-one-document-out; in a one-document knowledge base, except its own heading section
  and the chunks next to it). The best similarity it reaches is what the knowledge base offers
  a question on a neighbouring topic it has no document for.

From that distribution of "off-document" best similarities two levels are read:

* `floor`, its `FLOOR_QUANTILE` quantile: a question whose best chunk is less similar than
  what 90 % of off-document questions reach has nothing close in the knowledge base;
* `support`, its median: a question whose best chunk beats a typical off-document question
  is supported, whatever else is true of it.

Decision (a question is declined when either holds):
1. its best dense similarity is below `floor`;
2. it hinges on names the knowledge base never mentions (Latin-script words of a Chinese
   question that no chunk holds; see `name_terms`) and its best similarity is below `support`.
   A strong match overrides missing names, so an English term the notes spell in Chinese does
   not decline a question the embedding can still place.

A result may be answered from when the question passes and its own similarity reaches `floor`.
The quantiles are statistical levels, the same for every embedder and corpus.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import re
import tempfile
import threading
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kb.search.textproc import tokenize

log = logging.getLogger(__name__)

N_PSEUDO = 48
FLOOR_QUANTILE = 0.10
SUPPORT_QUANTILE = 0.50
_SEED = 20240611
_SENTENCE = re.compile(r"[^。！？!?；;\n]+")


@dataclass(frozen=True)
class Calibration:
    """What off-document pseudo-questions reach in this knowledge base (dense cosine)."""

    generation: int
    n: int  # pseudo-questions used
    floor: float
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "n": self.n, "floor": round(self.floor, 4),
                "support": round(self.support, 4), "floor_quantile": FLOOR_QUANTILE,
                "support_quantile": SUPPORT_QUANTILE}


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason_code: str  # kb.messages code ("" when passed)
    params: dict[str, Any]
    floor: float | None  # the similarity a result needs to be answered from


def pseudo_question(text: str, rng: random.Random) -> str | None:
    """One sentence of a chunk, cut to 40 characters: a question's length, the chunk's words."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if len(s.strip()) >= 12]
    return rng.choice(sentences)[:40] if sentences else None


def calibrate(indexes: Any, store: Any, embedder: Any, generation: int) -> Calibration | None:
    """Measure the off-document similarity distribution; None when the knowledge base is too small."""
    ids, _ = store.terms()
    if len(ids) < 8:
        return None
    rng = random.Random(_SEED)
    sample = sorted(rng.sample(sorted(ids), min(len(ids), N_PSEUDO * 2)))
    chunks = store.chunks_by_rowid(sample)
    all_chunks = store.chunks_by_rowid(ids) if len({c.doc_id for c in chunks.values()}) < 2 else None
    by_doc: dict[str, list[int]] = {}
    for rid, c in (all_chunks or {}).items():
        by_doc.setdefault(c.doc_id, []).append(rid)
    best: list[float] = []
    for rid in sample:
        c = chunks.get(rid)
        q = pseudo_question(c.text, rng) if c else None
        if q is None:
            continue
        if all_chunks is None:
            exclude = set(store.rowids_for_docs([c.doc_id]))
        else:  # one document: leave out its own section and its neighbours
            exclude = {r for r in by_doc[c.doc_id] if all_chunks[r].heading_path == c.heading_path
                       or abs(all_chunks[r].position - c.position) <= 2}
        if len(exclude) >= len(ids):
            continue
        # the best chunk outside `exclude`: among the len(exclude) + 1 best of all, one is outside it. No
        # filter of every other rowid is built (on PostgreSQL that array made the first search take minutes)
        hits = indexes.dense(embedder.embed_query(q), len(exclude) + 1)
        outside = next((score for rowid, score in hits if rowid not in exclude), None)
        if outside is not None:
            best.append(outside)
        if len(best) >= N_PSEUDO:
            break
    if len(best) < 8:
        return None
    arr = np.asarray(best)
    cal = Calibration(generation, len(best), float(np.quantile(arr, FLOOR_QUANTILE)),
                      float(np.quantile(arr, SUPPORT_QUANTILE)))
    log.info("gate calibrated kb=%s n=%d floor=%.4f support=%.4f", getattr(store, "name", "?"), cal.n, cal.floor,
             cal.support)
    return cal


REUSE_CHANGE = 0.10  # a calibration is kept while the number of chunks moves less than this fraction

_cache: dict[str, tuple[int, int, Calibration | None]] = {}  # "uuid/embedder" -> (generation, chunks, cal)
_cache_lock = threading.Lock()


def _reusable(cached: tuple[int, int, Any], gen: int, n: int) -> bool:
    return cached[0] == gen or bool(cached[1] and abs(n - cached[1]) < REUSE_CHANGE * cached[1])


def _cache_file(cache_dir: Path, key: str) -> Path:
    return cache_dir / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".json")


def _load(cache_dir: Path | None, key: str) -> tuple[int, int, Calibration] | None:
    """A calibration another process measured (data/cache/calibration), or None when absent or unreadable."""
    if cache_dir is None:
        return None
    try:
        d = json.loads(_cache_file(cache_dir, key).read_text(encoding="utf-8"))
        if d["key"] != key:
            return None
        cal = Calibration(int(d["generation"]), int(d["n"]), float(d["floor"]), float(d["support"]))
        if not (math.isfinite(cal.floor) and math.isfinite(cal.support) and cal.n >= 8):
            return None
        return int(d["generation"]), int(d["chunks"]), cal
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(cache_dir: Path | None, key: str, chunks: int, cal: Calibration) -> None:
    """Written whole (a temp file renamed over the old one); a cache that cannot be written is only logged."""
    if cache_dir is None:
        return
    path = _cache_file(cache_dir, key)
    data = {"key": key, "generation": cal.generation, "chunks": chunks, "n": cal.n, "floor": cal.floor,
            "support": cal.support}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cal-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("gate calibration not cached at %s: %s", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


def calibration_for(indexes: Any, store: Any, embedder: Any, cache_dir: Path | None = None) -> Calibration | None:
    """The calibration of a knowledge base, computed on first use and shared by every session.

    `indexes` is the index snapshot of one generation (kb/store/snapshot.py). The calibration is a
    statistical level of the whole knowledge base, so one new document does not move it: it is reused
    across generations until the number of chunks has changed by REUSE_CHANGE (then computed again),
    which keeps a search right after each commit of a long ingest from paying for it.

    With `cache_dir` (data/cache/calibration) it is also kept on disk, keyed by the knowledge base's
    uuid and the embedder, so a new process (`kb search`, another app or `serve` process) reuses it
    under the same rule instead of embedding 48 pseudo-questions again. It is derived data: a missing,
    damaged or foreign file is measured again.
    """
    gen = indexes.generation
    key = f"{getattr(indexes, 'uuid', None) or id(indexes)}/{getattr(embedder, 'name', '?')}"  # a rebuild with
    # another embedder changes the scale of every score: it is another calibration
    n = int(getattr(indexes, "ntotal", 0))
    disk = cache_dir if getattr(indexes, "uuid", None) else None
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and _reusable(cached, gen, n):
            return cached[2]
        stored = _load(disk, key)
        if stored is not None and _reusable(stored, gen, n):
            _cache[key] = stored
            return stored[2]
        cal = calibrate(indexes, store, embedder, gen)
        _cache[key] = (gen, n, cal)
        if cal is not None:
            _save(disk, key, n, cal)
        return cal


# ---------------------------------------------------------------- names the knowledge base lacks

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NAME_TERM = re.compile(r"[a-z][a-z0-9]*(?:[._\-][a-z0-9]+)*")


def name_terms(question: str) -> list[str]:
    """The Latin-script words of a mostly-Chinese question: in such a question they are names.

    Empty unless the question is mostly Chinese (4+ Han characters, at least two per Latin
    word): in an English question ordinary words would pass for names. Whole words only
    (`llama.cpp`, not also `llama` and `cpp`), 3 characters or more.
    """
    n_han = len(_HAN.findall(question))
    if n_han < 4 or n_han < 2 * len(_LATIN_WORD.findall(question)):
        return []
    names = [t for t in dict.fromkeys(tokenize(question)) if len(t) >= 3 and _NAME_TERM.fullmatch(t)]
    return [t for t in names if not any(t != o and t in re.split(r"[._\-]", o) for o in names)]


def missing_names(names: Sequence[str], stats: dict[str, tuple[int, float]]) -> tuple[tuple[str, ...], bool]:
    """(names no chunk holds, whether they are at least half of the question's names)."""
    missing = tuple(n for n in names if stats.get(n, (0, 0.0))[0] == 0)
    return missing, bool(names) and 2 * len(missing) >= len(names)


def decide(best: float | None, cal: Calibration | None, missing: Sequence[str], names_block: bool,
           use_names: bool, fixed_threshold: float) -> GateDecision:
    """Whether the question may be answered from the documents, and why not."""
    if best is None:
        return GateDecision(False, "gate.nothing_found", {}, None)
    if cal is None:  # too small to calibrate: the fixed threshold is all there is
        if best < fixed_threshold:
            return GateDecision(False, "gate.below_fixed", {"best": best, "threshold": fixed_threshold},
                                fixed_threshold)
        return GateDecision(True, "", {}, fixed_threshold)
    if best < cal.floor:
        return GateDecision(False, "gate.below_calibrated",
                            {"best": best, "threshold": cal.floor, "n": cal.n, "quantile": 1 - FLOOR_QUANTILE},
                            cal.floor)
    if use_names and names_block and best < cal.support:
        return GateDecision(False, "gate.unknown_names",
                            {"names": ", ".join(missing), "best": best, "support": cal.support, "n": cal.n},
                            cal.floor)
    return GateDecision(True, "", {}, cal.floor)
