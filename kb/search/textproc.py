"""Turning text into keyword-search terms, for Chinese and English alike.

The keyword index (kb/search/bm25.py) only matches what this module emits, and documents and
questions go through the same function, so the one rule that matters is consistency: a word
in a question must come out as the same term it came out as in the chunk.

How text is split:

* NFKC normalisation and lower-casing first, so full-width ``ＡＢＣ１２３`` and ``？`` match their
  ASCII forms and ``FAISS`` matches ``faiss``.
* Runs of Han characters go to jieba's search mode, which emits a long word together with the
  dictionary words inside it (``中华人民共和国`` also gives ``中华``, ``共和国``...), so a question
  using a shorter word still meets the chunk.
* Everything else is split into word runs that may be joined by ``. : / -`` (``3.10``,
  ``localhost:7860``, ``http://host/path``, ``chunk_size``). The whole run is kept, because
  identifiers and versions are exactly what people search for verbatim, and its parts are kept
  too, so ``chunk size`` still finds ``chunk_size`` and ``7860`` finds ``http://localhost:7860``.
* Command-line options and printf placeholders are also kept whole, as written: `--directory`,
  `--gpu-layers`, `-xzf`, `%s`; a one-letter option keeps its case, since `tar -C` and `tar -c`
  are different options (everything else is lower-cased).
* Whitespace and punctuation are never terms; a stop-word list drops the function words and
  the question words (`哪一年`, `多久`, `有没有`, `用`) that would otherwise make every chunk
  match every question, and a stop word's pieces go with it.

Limits: kana and hangul runs are kept whole rather than segmented; camelCase is not split.
"""
from __future__ import annotations

import contextlib
import logging
import marshal
import os
import re
import shutil
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import jieba

log = logging.getLogger(__name__)

__all__ = ["FIELD_PREFIX", "STOPWORDS", "tokenize", "use_data_dir", "warm_up"]

# Keyword terms of a chunk's fields carry their field as a prefix no tokenized text can produce
# (tokenize never emits "\x1f"): `\x1ff:apt` is "apt" in the file name, not in the body.
FIELD_PREFIX = {"file": "\x1ff:", "title": "\x1ft:"}

_ZH_STOPWORDS = """
的 地 得 了 着 过 是 在 和 与 及 或 也 都 就 而 又 还 很 并 但 但是 而且 并且 或者 以及
这 那 这个 那个 这些 那些 这里 那里 这样 那样 这种 那种 此 其 之 所 等 等等
一个 一些 一种 什么 怎么 怎样 怎么样 如何 为什么 为何 哪 哪个 哪些 哪里 多少 是否
吗 呢 吧 啊 呀 哦 嗯 啦 么 嘛
我 你 您 他 她 它 我们 你们 他们 她们 它们 咱们 自己
可以 能 能够 会 要 应该 需要 把 被 让 给 从 到 对 对于 关于 为 为了 以 由 向 于 跟 比
中 上 下 里 内 时 时候 因为 所以 如果 虽然 然后 因此 即 即可 有 没有 不 没
哪年 哪一年 哪个 哪一个 哪种 哪一种 哪儿 哪位 多大 多久 多长 几 几个 几种 什么样 为啥 啥 请问
是不是 有没有 能不能 会不会 要不要 可不可以 怎么办 一下
用 来 去 说 做 进行 更 最 再 才 只 只是 就是 还是 一般 通常 分别 比如 例如 像 之间 以后 之后
以前 之前 大概 大约 其中 另外 此外 通过 根据 按照 个 些 已经 所有 每 各 各个 各种 其他 其它
有些 有的 这么 那么 非常 比较 可能
""".split()

_EN_STOPWORDS = """
a an the of to in on at by for from with without into onto about as and or but nor not no
if then than so such is are was were be been being am do does did done has have had having
it its this that these those there here they them their theirs we us our you your i me my
he him his she her hers what which who whom whose when where why how can could will would
shall should may might must just also very too only all any some each other more most
""".split()

STOPWORDS: frozenset[str] = frozenset(_ZH_STOPWORDS) | frozenset(_EN_STOPWORDS)
"""Terms never emitted: too common to tell chunks apart, yet they would add score noise."""

# Han ideographs (CJK Unified + Extension A + compatibility); jieba segments these runs.
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# A word run, optionally joined by . : / - (underscore is already part of \w).
_WORD_RUN = re.compile(r"\w+(?:[.:/\-]+\w+)*")
# Where a joined run splits into its parts.
_PART_SEP = re.compile(r"[._:/\-]+")

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()
_cache_dir: Path | None = None


def use_data_dir(data_dir: Path | str) -> None:
    """Keep jieba's dictionary cache in `<data_dir>/cache/` (call before the first search or ingest).

    jieba's own default is `/tmp/jieba.cache`, which it loads with `marshal`: on a shared machine
    anyone who can write /tmp decides how this process segments Chinese (a planted file changed
    search terms). So the cache lives with the user's data or nowhere: until this is called, and
    when that folder cannot be written, the dictionary is built from jieba's packaged word list
    in memory (about a second) and no cache file is read or written at all.
    """
    global _cache_dir
    _cache_dir = Path(data_dir) / "cache"


def _private_cache_dir() -> Path | None:
    """The cache folder under data_dir, created private (0700), or None when it cannot be written."""
    folder = _cache_dir
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        log.info("jieba cache not kept folder=%s reason=%s", folder, exc.strerror or exc)
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        log.info("jieba cache not kept folder=%s reason=not writable", folder)
        return None
    return folder


_CACHE_NAME = "jieba.cache"
_CACHE_TAG = "kb-jieba-cache-1"
_CACHE_MAX_BYTES = 64 * 2**20  # the real one is ~9 MB; anything far bigger is not ours
_CACHE_KEEP_FREE = 256 * 2**20  # never fill a small disk with a cache: it only saves ~0.7 s


def _jieba() -> jieba.Tokenizer:
    """The process's jieba tokenizer, its dictionary loaded once on first use.

    A private instance (not jieba's module-level one) so nothing else in the process can
    change its dictionary under us; the lock keeps concurrent first calls from loading twice.
    The prefix dictionary is built from jieba's packaged word list, or loaded from our own cache
    in `<data_dir>/cache/` (see `use_data_dir`); jieba's `initialize()` is not used, because it
    reads and writes a cache in the shared temporary folder, and on a full disk it leaves a
    half-written temporary file behind and logs a traceback.
    """
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)  # jieba logs "Building prefix dict" to stderr
                tk = jieba.Tokenizer()
                folder = _private_cache_dir()
                cache = folder / _CACHE_NAME if folder is not None else None
                loaded = _load_cache(cache) if cache is not None else None
                with tk.lock:
                    if loaded is not None:
                        tk.FREQ, tk.total = loaded
                    else:
                        tk.FREQ, tk.total = tk.gen_pfdict(tk.get_dict_file())
                        if cache is not None:
                            _save_cache(cache, tk.FREQ, tk.total)
                    tk.initialized = True
                log.debug("jieba dictionary loaded words=%d cache=%s hit=%s", len(tk.FREQ), cache,
                          loaded is not None)
                _tokenizer = tk
    return _tokenizer


def _load_cache(path: Path) -> tuple[dict[str, int], int] | None:
    """Our cache file, if it is a regular file of ours, of a sane size and the expected shape."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # not there yet (or a symlink): build, then write it
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_size > _CACHE_MAX_BYTES:
            log.info("jieba cache ignored path=%s reason=not a regular file of ours", path)
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = marshal.loads(fh.read(_CACHE_MAX_BYTES + 1))
    except (OSError, EOFError, ValueError, TypeError) as exc:
        log.info("jieba cache unreadable path=%s error=%s; rebuilding", path, exc)
        return None
    finally:
        os.close(fd)
    if (isinstance(data, tuple) and len(data) == 4 and data[0] == _CACHE_TAG and data[1] == jieba.__version__
            and isinstance(data[2], dict) and data[2] and isinstance(data[3], int) and data[3] > 0):
        return data[2], data[3]
    log.info("jieba cache ignored path=%s reason=unexpected content", path)
    return None


def _save_cache(path: Path, freq: dict[str, int], total: int) -> None:
    """Write the cache beside its final name and rename it in; on any failure, leave nothing behind."""
    data = marshal.dumps((_CACHE_TAG, jieba.__version__, freq, total))
    try:
        if shutil.disk_usage(path.parent).free < len(data) + _CACHE_KEEP_FREE:
            log.info("jieba cache not written path=%s reason=little free space", path)
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jieba-", suffix=".tmp")
    except OSError as exc:
        log.info("jieba cache not written path=%s error=%s", path, exc.strerror or exc)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("jieba cache not written path=%s error=%s", path, exc.strerror or exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def warm_up(data_dir: Path | str | None = None) -> None:
    """Load the jieba dictionary now (about half a second) instead of on the first search.

    With `data_dir`, its cache is kept under it (see `use_data_dir`)."""
    if data_dir is not None:
        use_data_dir(data_dir)
    _jieba()


# A command-line option as written: `-C`, `-xzf`, `--directory`, `--gpu-layers` (not a minus
# sign or a dash inside a word), or a printf-style placeholder (`%s`, `%-10d`, `%.2f`).
_IDENTIFIER = re.compile(r"(?<![\w\-])(?:--?[A-Za-z][\w\-]*|%[\-+#0]?\d*(?:\.\d+)?[a-zA-Z])")


def _identifier_term(token: str) -> str:
    """A short option keeps its case (`-C` and `-c` are different options of tar); long options
    and placeholders are lower-cased like every other word."""
    return token if token.startswith("-") and not token.startswith("--") and len(token) == 2 else token.lower()


def _word_terms(segment: str) -> Iterator[str]:
    """Terms from a stretch of text with no Han characters in it (case as written; lowered here).

    An option or placeholder is emitted whole and as written (`--gpu-layers`, `-C`, `%s`),
    followed by the terms of its words, so `gpu layers` still finds `--gpu-layers`.
    """
    pos = 0
    for ident in _IDENTIFIER.finditer(segment):
        yield from _plain_terms(segment[pos:ident.start()].lower())
        yield _identifier_term(ident.group())
        yield from _plain_terms(ident.group().lower())
        pos = ident.end()
    yield from _plain_terms(segment[pos:].lower())


def _plain_terms(segment: str) -> Iterator[str]:
    for match in _WORD_RUN.finditer(segment):
        run = match.group()
        if run not in STOPWORDS:
            yield run
        parts = [p for p in _PART_SEP.split(run) if p]
        if len(parts) > 1 or (parts and parts[0] != run):
            for part in parts:
                if part not in STOPWORDS:
                    yield part


def _han_terms(run: str) -> Iterator[str]:
    """Terms from a run of Han characters: jieba search-mode words minus stop words.

    Search mode is jieba's `cut_for_search`, written out so that a stop word takes its pieces
    with it: `哪一年` is a stop word, and the `一年` inside it must not become a term either.
    """
    tk = _jieba()
    freq = tk.FREQ
    for word in tk.cut(run, HMM=True):
        if word in STOPWORDS:
            continue
        n = len(word)
        if n > 2:
            yield from (g for g in (word[i:i + 2] for i in range(n - 1)) if freq.get(g) and g not in STOPWORDS)
        if n > 3:
            yield from (g for g in (word[i:i + 3] for i in range(n - 2)) if freq.get(g) and g not in STOPWORDS)
        yield word


def tokenize(text: str) -> list[str]:
    """Keyword-search terms of `text`, in reading order, repeats kept (BM25 counts them).

    Use the same function for chunks and for questions: matching depends on it.
    """
    text = unicodedata.normalize("NFKC", text)  # lower-cased per segment: short options keep their case
    terms: list[str] = []
    pos = 0
    for match in _HAN_RUN.finditer(text):
        terms.extend(_word_terms(text[pos:match.start()]))
        terms.extend(_han_terms(match.group()))
        pos = match.end()
    terms.extend(_word_terms(text[pos:]))
    return terms
