"""Count tokens as Qwen does, so a prompt can be budgeted against num_ctx before it is sent.

System prompt + sources + history + question must fit `num_ctx` minus the answer reserve; a
prompt that overflows is cut by Ollama, silently losing sources or instructions. Characters are
a poor proxy: the user's mostly Chinese notes cost 0.54 tokens a character, English docs 0.28.

- `QwenTokenCounter`: Qwen's own byte-level BPE (the Qwen3 `tokenizer.json`, shipped gzipped
  in `kb/data/`, see `QWEN_TOKENIZER_LICENSE.txt`), run by the `tokenizers` package. Exact.
  Qwen2.5 shares the vocabulary and merges; Qwen3 adds four tags (`<think>`, `</think>`,
  `<tool_response>`, `</tool_response>`) that Qwen2.5 spells with a few ordinary tokens.
- `EstimatingTokenCounter`: no dependencies, for when the tokenizer cannot load. It mimics
  Qwen's pre-tokenizer with `re`, then prices each piece by character class with coefficients
  fitted against the real tokenizer (`python benchmarks/tokens.py --fit`). Measured on
  300-character windows: the user's Chinese/English corpus 0.9 % low in total, 4.1 % off per
  window on average, 17 % at worst (3-4.5 % per window on a file left out of the fit); English
  package docs and code 0.1 % in total, 6 % per window. One paragraph each of Russian, French,
  Spanish, Korean, Greek, Japanese, traditional Chinese: within 18 %; German compounds 34 % low.
  A budget built on estimates should keep a margin of ~10 %.
- `chat_message_tokens`: what one ChatML message costs, template included.
"""
from __future__ import annotations

import gzip
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from kb.errors import KBError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "qwen_tokenizer.json.gz"

_CACHE_ENTRIES = 4096
_CACHE_MAX_CHARS = 2048  # longer texts are counted uncached, so the cache holds at most ~32 MB

# Qwen's ChatML: every message is <|im_start|>{role}\n{content}<|im_end|>\n; each marker is one token.
_MESSAGE_SPECIAL_TOKENS = 2  # <|im_start|>, <|im_end|>
_MESSAGE_TRAILING_NEWLINE = 1  # the "\n" after <|im_end|> stands alone between special tokens


class TokenizerUnavailable(KBError):
    """Qwen's tokenizer cannot be loaded; callers fall back to `EstimatingTokenCounter`."""


@runtime_checkable
class TokenCounter(Protocol):
    """Anything that can tell how many tokens a text costs the model."""

    name: str

    def count(self, text: str) -> int: ...


# --- the real tokenizer -----------------------------------------------------------------------

_load_lock = threading.Lock()
_loaded: dict[Path, Tokenizer] = {}


def _load_tokenizer(path: Path) -> Tokenizer:
    """Load a gzipped tokenizer.json once per process: it costs ~0.5 s and ~150 MB, and is read-only."""
    with _load_lock:
        tokenizer = _loaded.get(path)
        if tokenizer is not None:
            return tokenizer
        started = time.perf_counter()
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise TokenizerUnavailable("tokens.package_missing") from exc
        try:
            raw = gzip.decompress(path.read_bytes()).decode("utf-8")
        except FileNotFoundError as exc:
            raise TokenizerUnavailable("tokens.data_missing", path=path) from exc
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise TokenizerUnavailable("tokens.data_unreadable", path=path, error=exc) from exc
        try:
            tokenizer = Tokenizer.from_str(raw)
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise TokenizerUnavailable("tokens.data_invalid", path=path, error=exc) from exc
        _loaded[path] = tokenizer
        log.info("qwen tokenizer loaded path=%s vocab=%d seconds=%.2f",
                 path, tokenizer.get_vocab_size(), time.perf_counter() - started)
        return tokenizer


class QwenTokenCounter:
    """Exact counts from Qwen's tokenizer, loaded on first use (`load()` to fail early instead)."""

    name = "qwen"

    def __init__(self, path: Path = DATA_FILE, cache_entries: int = _CACHE_ENTRIES) -> None:
        self.path = Path(path).resolve()
        self._tokenizer: Tokenizer | None = None
        # Prompts are rebuilt every turn from the same sources and history: remember recent counts.
        self._count_cached: Callable[[str], int] = lru_cache(maxsize=cache_entries)(self._encode_count)

    def load(self) -> None:
        """Load the tokenizer now; raises `TokenizerUnavailable` with what to do."""
        self._get()

    def count(self, text: str) -> int:
        """Tokens in `text`; a special-token string in it, such as <|im_end|>, counts as that one token."""
        if not text:
            return 0
        if len(text) <= _CACHE_MAX_CHARS:
            return self._count_cached(text)
        return self._encode_count(text)

    def encode(self, text: str) -> list[int]:
        """Token ids, for tests and diagnostics."""
        return self._get().encode(text, add_special_tokens=False).ids

    def _get(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.path)
        return self._tokenizer

    def _encode_count(self, text: str) -> int:
        return len(self.encode(text))

    def __repr__(self) -> str:
        return f"QwenTokenCounter(path={str(self.path)!r})"


# --- the estimator ----------------------------------------------------------------------------

# Qwen's pre-tokenizer regex, with \p{L} ~ [^\W\d_] and \p{N} ~ \d so the stdlib `re` can run it:
#   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
#   |\s*[\r\n]+|\s+(?!\S)|\s+
# BPE never merges across these pieces, so pricing them one by one loses nothing structural.
_PIECE = re.compile(
    r"(?P<contraction>'(?i:s|t|re|ve|m|ll|d))"
    r"|(?P<word>(?:[^\r\n\w]|_)?[^\W\d_]+)"
    r"|(?P<digit>\d)"
    r"|(?P<punct> ?(?:[^\s\w]|_)+[\r\n]*)"
    r"|(?P<space>\s*[\r\n]+|\s+(?!\S)|\s+)"
)
# Han ideographs and kana: priced per character (Qwen's vocabulary holds many 2-4 character words).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_RUN = re.compile(f"[{_CJK}]+")
# Latin (with accents) and Cyrillic words: priced per word, plus length, capitals and accents.
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u0400-\u052f]+")
_ONLY_ASCII_WORD = re.compile(r"[A-Za-z]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CYRILLIC = re.compile(r"[\u0400-\u052f]")
_CAMEL = re.compile(r"[a-z][A-Z]")
_REPEATS = re.compile(r"(.)\1+")

# Fitted by `python benchmarks/tokens.py --fit` (nnls over Qwen's exact pre-token pieces of the
# corpus and of English package docs), rounded. Held by hand, from one paragraph each of Russian,
# French, Spanish, Korean and Greek: digit (exact), accented_letter, cyrillic_letter, other_letter.
COEFFICIENTS: dict[str, float] = {
    "cjk_char": 0.54,          # per Han/kana character
    "cjk_run": 0.87,           # per run of them
    "word": 1.07,              # per Latin/Cyrillic word
    "word_long_char": 0.09,    # per character beyond 6 in a word that is not all capitals
    "caps_char": 0.13,         # per character of an all-capitals word (RAG, LLM)
    "camel": 1.02,             # per lower-to-upper change inside a word (ChatGPT, LangChain)
    "accented_letter": 0.6,    # per accented Latin letter (é, ü) inside a word
    "cyrillic_letter": 0.12,   # per Cyrillic letter
    "other_letter": 0.9,       # per letter of any other script (Hangul, Greek, Arabic...)
    "prefix": 0.45,            # per punctuation mark glued in front of a word: (如 ，比如 "token
    "digit": 1.0,              # Qwen splits numbers into single digits: exact
    "punct_run": 0.92,         # per run of punctuation/symbols
    "punct_extra_char": 0.26,  # per further character in a run (a repeated one counts twice at most)
    "wide_punct_char": 0.17,   # per non-ASCII punctuation character (，。：“” are one token each)
    "astral_char": 0.68,       # per emoji or other character beyond U+FFFF
    "space": 1.0,              # per whitespace piece that is not glued to a word
}


class EstimatingTokenCounter:
    """Estimated counts from character classes; pure Python, for when the tokenizer cannot load."""

    name = "estimate"

    def __init__(self, coefficients: dict[str, float] | None = None) -> None:
        self.coefficients = dict(COEFFICIENTS if coefficients is None else coefficients)

    def count(self, text: str) -> int:
        """Estimated tokens in `text`: at least 1 for any non-empty text."""
        if not text:
            return 0
        c = self.coefficients
        return max(1, round(sum(c[k] * v for k, v in self.features(text).items())))

    @staticmethod
    def features(text: str) -> dict[str, float]:
        """How many of each priced thing `text` holds; the estimate is their dot product with the coefficients."""
        f = dict.fromkeys(COEFFICIENTS, 0.0)
        for m in _PIECE.finditer(text):
            kind = m.lastgroup
            piece = m.group()
            if kind == "word":
                first = piece[0]
                if first == "_" or not first.isalnum():  # Qwen's optional one-character prefix
                    if not first.isspace():
                        f["prefix"] += 1
                    piece = piece[1:]
                _letter_features(piece, f)
            elif kind == "digit":
                f["digit"] += 1
            elif kind == "punct":
                core = piece.strip(" \r\n")
                if len(core) > 2:  # rules like ---- or ==== are a token or two, however long
                    core = _REPEATS.sub(r"\1\1", core)
                f["punct_run"] += 1
                f["punct_extra_char"] += len(core) - 1
                if not core.isascii():
                    for ch in core:
                        if ch > "\uffff":
                            f["astral_char"] += 1
                        elif ch > "\x7f":
                            f["wide_punct_char"] += 1
            elif kind == "space":
                f["space"] += 1
            else:  # contraction: 's 't 're ...
                f["word"] += 1
        return f

    def __repr__(self) -> str:
        return "EstimatingTokenCounter()"


def _letter_features(run: str, f: dict[str, float]) -> None:
    """Price a run of letters, which may mix scripts ("LoRA微调")."""
    if _CJK_RUN.fullmatch(run):
        f["cjk_char"] += len(run)
        f["cjk_run"] += 1
        return
    if _ONLY_ASCII_WORD.fullmatch(run):
        _word_features(run, f)
        return
    for cjk in _CJK_RUN.findall(run):
        f["cjk_char"] += len(cjk)
        f["cjk_run"] += 1
    rest = _CJK_RUN.sub("", run)
    words = _WORD.findall(rest)
    for word in words:
        _word_features(word, f)
    f["other_letter"] += len(rest) - sum(map(len, words))


def _word_features(word: str, f: dict[str, float]) -> None:
    f["word"] += 1
    if len(word) > 1 and word.isupper():
        f["caps_char"] += len(word)
    else:
        f["word_long_char"] += max(0, len(word) - 6)
        f["camel"] += len(_CAMEL.findall(word))
    if not word.isascii():
        cyrillic = len(_CYRILLIC.findall(word))
        f["cyrillic_letter"] += cyrillic
        f["accented_letter"] += len(_NON_ASCII.findall(word)) - cyrillic


# --- chat template and choice ------------------------------------------------------------------

def chat_message_tokens(counter: TokenCounter, role: str, content: str) -> int:
    """Tokens of `<|im_start|>{role}\\n{content}<|im_end|>\\n`, the way Qwen's ChatML template renders a message.

    The newline after the role is counted together with the content because the tokenizer merges
    it with leading whitespace ("\\n" + "\\n\\n" is one token); everything else is additive.
    """
    return (_MESSAGE_SPECIAL_TOKENS + counter.count(role) + counter.count("\n" + content)
            + _MESSAGE_TRAILING_NEWLINE)


def chat_prompt_tokens(counter: TokenCounter, messages: Iterable[tuple[str, str]]) -> int:
    """Tokens of a whole ChatML prompt: the (role, content) messages plus `<|im_start|>assistant\\n`.

    Anything else a model's template adds (e.g. an empty think block) is the caller's to count.
    """
    primer = 1 + counter.count("assistant") + 1  # <|im_start|> assistant \n
    return primer + sum(chat_message_tokens(counter, r, c) for r, c in messages)


def default_counter(path: Path = DATA_FILE) -> TokenCounter:
    """Qwen's tokenizer if its data file and `tokenizers` load, else the estimator (logged at INFO).

    Loads eagerly (~0.5 s, once per process) so a broken install shows up at start, not mid-answer.
    """
    counter = QwenTokenCounter(path)
    try:
        counter.load()
    except TokenizerUnavailable as exc:
        log.info("token counter=estimate reason=%s", exc)
        return EstimatingTokenCounter()
    log.info("token counter=qwen path=%s", counter.path)
    return counter
