"""The generated corpus of benchmarks/scale.py: Chinese/English text, its keyword terms, its hash vectors.

Text. Each word of a chunk is Chinese with probability 0.85, drawn by a Zipf law (s = 1.05) from the
30,000 most frequent 2-4 character Han words of jieba's dictionary; else English, drawn by the same
law from 5,000 lower-case words of the Qwen tokenizer's vocabulary (in its merge order, which follows
frequency), stop words left out. 90-150 words a chunk (~300 characters), a full stop every 15 words,
English words set apart by spaces: the shape of the notes KB Studio is for. A chunk's keyword terms
are the words it was made of, which is what kb/search/textproc.py makes of such text (jieba-segmenting
300M characters would take most of an hour and measure jieba, not retrieval).

Vectors. Exactly the vectors of the `hash` embedder (kb/embedders.py, HashEmbedder: signed feature
hashing of character unigrams and bigrams, normalised), computed a batch at a time with numpy instead
of one blake2b call per character in Python (1M chunks would take ~10 minutes that way): each
distinct gram is hashed once, by the same blake2b, and cached. `check_against_embedder` compares
both ways on a sample, so the shortcut cannot drift from the embedder.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

ZIPF_S = 1.05
ZH_VOCAB = 30000
EN_VOCAB = 5000
EN_SHARE = 0.15
WORDS_PER_CHUNK = (90, 151)


def zipf_p(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** ZIPF_S
    return p / p.sum()


def chinese_words() -> list[str]:
    """The most frequent 2-4 character Han words of jieba's dictionary, most frequent first."""
    import jieba

    entries = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as fh:
        for line in fh:
            word, freq = line.split(" ")[:2]
            if 2 <= len(word) <= 4 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
                entries.append((int(freq), word))
    entries.sort(reverse=True)
    return [w for _, w in entries[:ZH_VOCAB]]


def english_words() -> list[str]:
    """Lower-case 3-12 letter words of the Qwen tokenizer, in merge order, stop words left out."""
    from kb.search.textproc import STOPWORDS

    with gzip.open(REPO / "kb" / "data" / "qwen_tokenizer.json.gz") as fh:
        vocab = json.load(fh)["model"]["vocab"]
    words = [t[1:] for t, _ in sorted(vocab.items(), key=lambda x: x[1]) if re.fullmatch(r"Ġ[a-z]{3,12}", t)]
    return [w for w in dict.fromkeys(words) if w not in STOPWORDS][:EN_VOCAB]


class Corpus:
    """Draws chunks and questions from the two vocabularies (deterministic for a seed)."""

    def __init__(self, seed: int):
        from kb.search.textproc import STOPWORDS

        self.stop = STOPWORDS
        self.zh = np.array(chinese_words(), dtype=object)
        self.en = np.array(english_words(), dtype=object)
        self.p_zh = zipf_p(len(self.zh))
        self.p_en = zipf_p(len(self.en))
        self.rng = np.random.default_rng(seed)

    def _words(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n words and whether each is English."""
        english = self.rng.random(n) < EN_SHARE
        out = np.empty(n, dtype=object)
        out[~english] = self.zh[self.rng.choice(len(self.zh), size=int((~english).sum()), p=self.p_zh)]
        out[english] = self.en[self.rng.choice(len(self.en), size=int(english.sum()), p=self.p_en)]
        return out, english

    def chunks(self, n: int) -> tuple[list[str], list[list[str]]]:
        """(texts, keyword terms) of n chunks."""
        lens = self.rng.integers(*WORDS_PER_CHUNK, size=n)
        flat, english = self._words(int(lens.sum()))
        texts, terms = [], []
        start = 0
        for m in lens.tolist():
            words, en = flat[start:start + m].tolist(), english[start:start + m].tolist()
            start += m
            parts = []
            for j, (w, e) in enumerate(zip(words, en)):
                parts.append(f" {w} " if e else w)
                if j % 15 == 14:
                    parts.append("。")
            texts.append("".join(parts).strip())
            terms.append([w for w in words if w not in self.stop])  # as kb/search/textproc.py leaves them out
        return texts, terms

    def questions(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            words, _ = self._words(int(self.rng.integers(3, 9)))
            out.append(" ".join(words.tolist()) + "？")
        return out


class HashVectors:
    """HashEmbedder's passage vectors for many texts at once (see the module docstring)."""

    _BIGRAM = np.uint64(1 << 42)  # bigram keys (c1 << 21 | c2) + this never collide with code points

    def __init__(self, dim: int):
        self.dim = dim
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted
        self._bucket = np.zeros(0, dtype=np.int64)
        self._sign = np.zeros(0, dtype=np.float32)

    @staticmethod
    def _gram(key: int) -> str:
        if key >= 1 << 42:
            key -= 1 << 42
            return chr(key >> 21) + chr(key & ((1 << 21) - 1))
        return chr(key)

    def _learn(self, keys: np.ndarray) -> None:
        new = keys[~np.isin(keys, self._keys, assume_unique=True)]
        if not len(new):
            return
        hashes = [int.from_bytes(hashlib.blake2b(self._gram(int(k)).encode("utf-8"), digest_size=8).digest(),
                                 "little") for k in new.tolist()]
        bucket = np.array([h % self.dim for h in hashes], dtype=np.int64)
        sign = np.array([1.0 if (h >> 63) & 1 else -1.0 for h in hashes], dtype=np.float32)
        keys_all = np.concatenate([self._keys, new])
        order = np.argsort(keys_all, kind="stable")
        self._keys = keys_all[order]
        self._bucket = np.concatenate([self._bucket, bucket])[order]
        self._sign = np.concatenate([self._sign, sign])[order]

    def embed(self, texts: list[str]) -> np.ndarray:
        cleaned = ["".join(t.lower().split()) for t in texts]
        codes = [np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) for t in cleaned]
        lens = np.array([len(c) for c in codes], dtype=np.int64)
        flat = np.concatenate(codes) if codes else np.zeros(0, dtype=np.uint64)
        text_of = np.repeat(np.arange(len(texts), dtype=np.int64), lens)
        same = text_of[1:] == text_of[:-1]  # consecutive characters of one text make a bigram
        bigrams = ((flat[:-1][same] << np.uint64(21)) | flat[1:][same]) + self._BIGRAM
        keys = np.concatenate([flat, bigrams])
        owner = np.concatenate([text_of, text_of[:-1][same]])
        self._learn(np.unique(keys))
        at = np.searchsorted(self._keys, keys)
        cells = owner * self.dim + self._bucket[at]
        m = np.bincount(cells, weights=self._sign[at], minlength=len(texts) * self.dim)
        m = m.reshape(len(texts), self.dim).astype(np.float32)
        m[lens == 0, 0] = 1.0
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.ascontiguousarray(m / norms, dtype=np.float32)


def check_against_embedder(texts: list[str], vectors: np.ndarray, dim: int) -> float:
    """The largest difference between these vectors and HashEmbedder's own; raises if they differ."""
    from kb.embedders import HashEmbedder

    ref = HashEmbedder(dim).embed_passages(texts)
    diff = float(np.abs(ref - vectors).max())
    if diff > 1e-5:
        raise AssertionError(f"generated vectors differ from the hash embedder's by {diff}")
    return diff
