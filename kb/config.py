"""Settings: `config.toml`, then `KB_*` environment overrides, validated once.

Load explicitly with `Settings.load()`; nothing is read at import time. Every key of
config.toml can be overridden by `KB_<SECTION>_<KEY>`; a few common ones have short
forms (see `_ALIASES`). A bad value raises `ConfigError` naming the key and its source.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kb.errors import ConfigError

log = logging.getLogger(__name__)

# Keys an older config.toml may still hold: (section, key) -> the key that replaced it, or None
# when the setting is gone. Read with a logged warning instead of refused, so an upgrade never
# stops the app; a value for a renamed key is carried over unless the new key is given too.
RETIRED_KEYS: dict[tuple[str, str], str | None] = {
    ("retrieval", "name_check"): "gate_names",
    ("retrieval", "answer_type_boost"): None,  # matched most chunks; measured worth nothing (README)
}

_ALIASES = {
    "KB_DATA_DIR": ("storage", "data_dir"),
    "KB_EMBEDDER": ("embedder", "name"),
    "KB_OLLAMA_URL": ("ollama", "url"),
    "KB_MODEL": ("ollama", "model"),
    "KB_DEFAULT_KB": ("storage", "default_kb"),
}


@dataclass(frozen=True)
class StorageSettings:
    data_dir: Path = Path("data")
    max_file_mb: float = 50.0
    default_kb: str = "notes"
    backend: str = "sqlite"  # "sqlite" (embedded, data_dir) | "postgres" (shared, url; kb/store/pg/)
    url: str = ""  # postgresql://user:password@host:5432/db when backend = "postgres" (or KB_STORAGE_URL)
    pg_ef_search: int = 100  # pgvector HNSW search breadth: higher is better recall, slower


@dataclass(frozen=True)
class EmbedderSettings:
    name: str = "builtin"
    batch_size: int = 32
    workers: int = 0  # processes embedding in parallel for the builtin embedder: 0 = one per core, 1 = none


@dataclass(frozen=True)
class IndexSettings:
    # chunks at which the vector index turns from exact (flat) to approximate (IVF); kb/store/dense.py
    approximate_above: int = 200_000


@dataclass(frozen=True)
class ChunkingSettings:
    size: int = 480
    overlap: int = 80
    min_chars: int = 20


@dataclass(frozen=True)
class RetrievalSettings:
    mode: str = "hybrid"
    k: int = 5
    candidates: int = 40
    fusion: str = "zscore"
    rrf_k: int = 60
    dense_weight: float = 0.6
    bm25_weight: float = 0.4
    mmr: bool = False
    mmr_lambda: float = 0.7
    threshold: float = 0.86
    relative_cutoff: float = 0.93
    gate_names: bool = True  # the gate may decline a question whose names no chunk holds (kb/search/gate.py)
    # Second stage (kb/search/second_stage.py): the Ollama model helps, off unless measured; without
    # Ollama, or over the budget, the first stage's results stand.
    llm_rewrite: bool = False  # the model rewrites the question into up to 3 search queries (fused by RRF)
    llm_rerank: bool = False  # the model puts the top `llm_rerank_top` candidates in order (listwise)
    llm_rerank_top: int = 10
    llm_budget: float = 8.0  # seconds all model calls of one search may take together


@dataclass(frozen=True)
class OllamaSettings:
    url: str = "http://127.0.0.1:11434"
    model: str = "kb-qwen"
    modelfile: Path = Path("Modelfile")
    timeout: float = 120.0  # first byte, and between two lines of an answer
    keep_alive: str = "30m"
    connect_timeout: float = 5.0
    answer_timeout: float = 600.0  # one whole answer (or embedding batch)
    max_answer_tokens: int = 768
    think: bool = False  # thinking models (qwen3): reason before answering (shown apart, never cited)
    vram_gib: float = 0.0  # the card's free memory for the fit check and memory hints; 0 = ask nvidia-smi
    num_gpu: int | None = None  # layers on the GPU, sent only when set; None: Ollama places them by free memory


@dataclass(frozen=True)
class ChatSettings:
    mode: str = "docs"
    answer_reserve: int = 768
    num_ctx: int = 4096


@dataclass(frozen=True)
class OcrSettings:
    low_confidence: float = 0.8  # pages and chunks read by OCR below this mean confidence are flagged


@dataclass(frozen=True)
class ApiSettings:
    """`python -m kb serve`: bearer tokens, required when it listens beyond this computer (kb/api/auth.py)."""

    tokens: tuple[str, ...] = ()  # config.toml: a list of strings; KB_API_TOKENS: comma-separated


API_TOKEN_MIN_CHARS = 16


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    ollama: OllamaSettings = field(default_factory=OllamaSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def data_dir(self) -> Path:
        return self.storage.data_dir

    @classmethod
    def load(cls, path: Path | str | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        """Read config.toml (from `path`, `KB_CONFIG`, or the project folder) and apply KB_* overrides."""
        env = os.environ if env is None else env
        cfg_path = _find_config(path, env)
        raw: dict[str, Any] = {}
        if cfg_path is not None:
            raw = _read_toml(cfg_path)
        base_dir = cfg_path.parent if cfg_path is not None else Path.cwd()
        return cls.from_mapping(raw, env=env, base_dir=base_dir, source=str(cfg_path or "defaults"))

    @classmethod
    def from_mapping(
        cls,
        raw: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        base_dir: Path | None = None,
        source: str = "settings",
    ) -> "Settings":
        env = {} if env is None else env
        base_dir = base_dir or Path.cwd()
        sections: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for f in dataclasses.fields(cls):
            section_cls = _section_type(f.name)
            given = raw.get(f.name, {}) or {}
            if not isinstance(given, Mapping):
                raise ConfigError("config.not_a_section", section=f.name, origin=source)
            given = _retire(f.name, dict(given), source)
            unknown = set(given) - {sf.name for sf in dataclasses.fields(section_cls)}
            if unknown:
                raise ConfigError("config.unknown_keys", section=f.name, keys=", ".join(sorted(map(str, unknown))),
                                  origin=source)
            values = {}
            for sf in dataclasses.fields(section_cls):
                origin = source
                value = given.get(sf.name, sf.default)
                env_value = _env_value(env, f.name, sf.name)
                if env_value is not None:
                    origin, value = env_value
                elif sf.name not in given:
                    origin = "defaults"
                origins[f"{f.name}.{sf.name}"] = origin
                values[sf.name] = _coerce(value, sf.type, f"[{f.name}] {sf.name}", origin, base_dir)
            if f.name == "storage":
                values["default_kb"] = _default_kb(values["default_kb"], origins["storage.default_kb"])
            sections[f.name] = section_cls(**values)
        settings = cls(**sections)
        settings.validate(origins)
        return settings

    def with_overrides(self, **sections: Mapping[str, Any]) -> "Settings":
        """A copy with some section values replaced, e.g. `with_overrides(retrieval={"k": 8})`."""
        replaced = {}
        for name, values in sections.items():
            replaced[name] = dataclasses.replace(getattr(self, name), **values)
        out = dataclasses.replace(self, **replaced)
        out.validate()
        return out

    def validate(self, origins: Mapping[str, str] | None = None) -> None:
        """Check every value once; the error names the key, its value and where the value came from."""
        origins = origins or {}

        def need(ok: bool, section: str, key: str) -> None:
            if not ok:
                raise ConfigError(f"config.rule.{section}.{key}", key=f"[{section}] {key}",
                                  value=repr(getattr(getattr(self, section), key))[:80],
                                  origin=origins.get(f"{section}.{key}", "—"))

        for f in dataclasses.fields(self):  # with_overrides skips _coerce: NaN and inf are refused here too
            section = getattr(self, f.name)
            for sf in dataclasses.fields(section):
                value = getattr(section, sf.name)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ConfigError("config.not_finite", key=f"[{f.name}] {sf.name}", value=repr(value),
                                      origin=origins.get(f"{f.name}.{sf.name}", "—"))
        need(self.storage.max_file_mb > 0, "storage", "max_file_mb")
        need(_valid_kb_name(self.storage.default_kb), "storage", "default_kb")
        need(self.storage.backend in ("sqlite", "postgres"), "storage", "backend")
        need(self.storage.backend != "postgres" or self.storage.url.startswith(("postgresql://", "postgres://")),
             "storage", "url")
        need(10 <= self.storage.pg_ef_search <= 1000, "storage", "pg_ef_search")
        name = self.embedder.name
        need(name in ("builtin", "hash") or (name.startswith("ollama:") and len(name) > 7), "embedder", "name")
        need(self.embedder.batch_size >= 1, "embedder", "batch_size")
        need(0 <= self.embedder.workers <= 64, "embedder", "workers")
        need(self.index.approximate_above >= 1, "index", "approximate_above")
        c = self.chunking
        need(c.size >= 50, "chunking", "size")
        need(0 <= c.overlap < c.size // 2, "chunking", "overlap")
        need(0 <= c.min_chars < c.size, "chunking", "min_chars")
        r = self.retrieval
        need(r.mode in ("dense", "bm25", "hybrid"), "retrieval", "mode")
        need(1 <= r.k <= 100, "retrieval", "k")
        need(r.candidates >= r.k, "retrieval", "candidates")
        need(r.fusion in ("zscore", "rrf"), "retrieval", "fusion")
        need(r.rrf_k >= 1, "retrieval", "rrf_k")
        need(r.dense_weight >= 0, "retrieval", "dense_weight")
        need(r.bm25_weight >= 0 and r.dense_weight + r.bm25_weight > 0, "retrieval", "bm25_weight")
        need(0 <= r.mmr_lambda <= 1, "retrieval", "mmr_lambda")
        need(-1 <= r.threshold <= 1, "retrieval", "threshold")
        need(0 <= r.relative_cutoff <= 1, "retrieval", "relative_cutoff")
        need(2 <= r.llm_rerank_top <= 40, "retrieval", "llm_rerank_top")
        need(0 < r.llm_budget <= 600, "retrieval", "llm_budget")
        o = self.ollama
        need(o.url.startswith(("http://", "https://")), "ollama", "url")
        need(bool(o.model.strip()), "ollama", "model")
        need(o.timeout > 0, "ollama", "timeout")
        need(o.connect_timeout > 0, "ollama", "connect_timeout")
        need(o.answer_timeout > 0, "ollama", "answer_timeout")
        need(o.max_answer_tokens >= 1, "ollama", "max_answer_tokens")
        ch = self.chat
        need(ch.mode in ("docs", "chat"), "chat", "mode")
        need(ch.num_ctx >= 512, "chat", "num_ctx")
        need(0 < ch.answer_reserve < ch.num_ctx // 2, "chat", "answer_reserve")
        need(0 <= self.ocr.low_confidence <= 1, "ocr", "low_confidence")
        need(0 <= self.ollama.vram_gib <= 1024, "ollama", "vram_gib")
        need(self.ollama.num_gpu is None or -1 <= self.ollama.num_gpu <= 1024, "ollama", "num_gpu")
        _check_tokens(self.api.tokens, origins.get("api.tokens", "—"))
        _check_data_dir(self.storage.data_dir, origins.get("storage.data_dir", "—"))

    def require_writable_data_dir(self) -> None:
        """Raise `ConfigError` unless the data folder can be written (or created where it is missing).

        For the commands that write (ingest, delete, reindex, rebuild): they fail here, before any
        work, naming the folder, instead of with a traceback from the first `mkdir`. `access(2)`
        also answers for a read-only mount (EROFS); a full disk is reported by the write itself.
        """
        folder = Path(self.storage.data_dir)
        target = folder
        while not target.exists() and target != target.parent:
            target = target.parent
        if not os.access(target, os.W_OK | os.X_OK):
            raise ConfigError("config.data_dir_unwritable", path=str(folder), blocker=str(target))


def _check_tokens(tokens: tuple[str, ...], origin: str) -> None:
    """API tokens long enough not to be guessed, and without spaces or commas (KB_API_TOKENS splits on
    commas). The message says which token (by its position), never its text: it may reach a log."""
    for n, token in enumerate(tokens, start=1):
        if len(token) < API_TOKEN_MIN_CHARS or not token.isprintable() or any(c.isspace() or c == "," for c in token):
            raise ConfigError("config.api_token_weak", n=n, min=API_TOKEN_MIN_CHARS, origin=origin)


def _check_data_dir(folder: Path, origin: str) -> None:
    """The data folder, or the nearest of its parents that exists, must be a folder (one `stat` each)."""
    target = Path(folder)
    while True:
        try:
            if target.is_dir():
                return
            if target.exists() or target.is_symlink():
                raise ConfigError("config.data_dir_not_a_folder", path=str(folder), blocker=str(target), origin=origin)
        except OSError as exc:  # e.g. a parent that cannot be searched
            raise ConfigError("config.data_dir_unreachable", path=str(folder), origin=origin,
                              reason=exc.strerror or exc) from exc
        if target == target.parent:
            return
        target = target.parent


def _read_toml(path: Path) -> dict[str, Any]:
    """config.toml as a dict; every way it can be unreadable is a `ConfigError` naming the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError("config.file_unreadable", file=str(path), reason=exc.strerror or exc) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError("config.file_not_utf8", file=str(path), line=line) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config.toml_invalid", file=str(path), reason=exc) from exc


KB_NAME_MAX_CHARS = 64
KB_NAME_MAX_BYTES = 192
"""A knowledge-base name becomes a folder name, and the core adds prefixes and suffixes to it
(`.deleting-<name>-<timestamp>` and the like). 192 bytes of UTF-8 (64 Chinese characters) leaves
60 bytes of room under the 255-byte limit of a folder name, so that limit is never reached."""


def normalise_kb_name(name: str) -> str:
    """The one spelling of a knowledge-base name, or `KBError` saying what is wrong with it.

    NFKC first, so that a name typed in full-width forms (`ｎｏｔｅｓ`), decomposed (NFD, as
    macOS file dialogs give it) or composed maps to one knowledge base instead of three folders
    that look the same. Then the rules: letters and digits of any script, `-` and `_`, not
    starting with `-` or `_`, at most 64 characters and 192 bytes. Surrounding spaces are dropped.
    """
    from kb.errors import KBError

    if not isinstance(name, str):
        raise KBError("kb.name_invalid", name=repr(name)[:40])
    shown = _shown(name)
    if len(name) > 4 * KB_NAME_MAX_BYTES:  # refuse megabyte "names" before normalising them
        raise KBError("kb.name_too_long", name=shown, bytes=len(name.encode("utf-8", "replace")),
                      limit=KB_NAME_MAX_BYTES, chars=KB_NAME_MAX_BYTES // 3)
    clean = unicodedata.normalize("NFKC", name).strip()
    if not clean:
        raise KBError("kb.name_empty")
    size = len(clean.encode("utf-8", "replace"))
    if size > KB_NAME_MAX_BYTES:
        raise KBError("kb.name_too_long", name=_shown(clean), bytes=size, limit=KB_NAME_MAX_BYTES,
                      chars=KB_NAME_MAX_BYTES // 3)
    ok = (len(clean) <= KB_NAME_MAX_CHARS and clean[0].isalnum()
          and all(ch.isalnum() or ch in "-_" or unicodedata.category(ch).startswith("M") for ch in clean))
    if not ok:
        raise KBError("kb.name_invalid", name=_shown(clean))
    return clean


def _shown(name: str) -> str:
    """A name as it may appear inside a message: no control characters, not kilobytes long."""
    return "".join(ch if ch.isprintable() else "?" for ch in name[:40])


def _valid_kb_name(name: str) -> bool:
    """TRANSITION: True for a name already in its normal form; callers move to `normalise_kb_name`."""
    from kb.errors import KBError

    try:
        return normalise_kb_name(name) == name
    except KBError:
        return False


def _default_kb(name: str, origin: str) -> str:
    """The configured default knowledge base, in the one spelling `normalise_kb_name` gives."""
    from kb.errors import KBError

    try:
        return normalise_kb_name(name)
    except KBError as exc:
        raise ConfigError("config.default_kb_invalid", origin=origin, reason=exc) from exc


def _section_type(name: str) -> type:
    return {f.name: f.default_factory for f in dataclasses.fields(Settings)}[name]  # type: ignore[return-value]


def _env_value(env: Mapping[str, str], section: str, key: str) -> tuple[str, str] | None:
    var = f"KB_{section}_{key}".upper()
    if var in env:
        return var, env[var]
    for alias, target in _ALIASES.items():
        if target == (section, key) and alias in env:
            return alias, env[alias]
    return None


def _coerce(value: Any, type_name: Any, key: str, origin: str, base_dir: Path) -> Any:
    """A raw value (TOML or an environment string) as the setting's type; `ConfigError` naming the key."""
    type_name = str(type_name)
    shown = repr(value)[:80]
    if type_name == "Path":
        if not isinstance(value, (str, Path)) or not str(value).strip() or "\x00" in str(value):
            raise ConfigError("config.not_a_path", key=key, value=shown, origin=origin)
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else (base_dir / p).resolve()
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError("config.not_bool", key=key, value=shown, origin=origin)
    if type_name == "tuple[str, ...]":
        return _text_list(value, key, origin)
    if type_name in ("int", "float"):
        return parse_number(value, integer=type_name == "int", key=key, origin=origin)
    if type_name == "int | None":  # unset: absent, or an empty / "auto" environment value
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
            return None
        return parse_number(value, integer=True, key=key, origin=origin)
    if isinstance(value, (dict, list)):
        raise ConfigError("config.not_text", key=key, value=shown, origin=origin)
    return str(value)


def _text_list(value: Any, key: str, origin: str) -> tuple[str, ...]:
    """A list of strings from TOML, or one comma-separated string (an environment variable)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    shown = f"<{type(value).__name__}>"  # never the values: they may be secrets
    raise ConfigError("config.not_text_list", key=key, value=shown, origin=origin)


def parse_number(value: Any, *, integer: bool, key: str, origin: str = "—") -> int | float:
    """A finite number from a TOML value, an environment string or a command-line argument.

    NaN and infinity are refused wherever a number enters: `nan` compares false with everything,
    so a NaN threshold would pass every range check and then turn every score into NaN (and the
    --json output into invalid JSON).
    """
    shown = repr(value)[:80]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError("config.not_number", key=key, value=shown, origin=origin)
    if integer and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    try:
        number = float(value) if not isinstance(value, int) else value
    except (ValueError, OverflowError):
        raise ConfigError("config.not_int" if integer else "config.not_number", key=key, value=shown,
                          origin=origin) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigError("config.not_finite", key=key, value=shown, origin=origin)
    if not integer:
        return float(number)
    if isinstance(number, float) and not number.is_integer():
        raise ConfigError("config.not_int", key=key, value=shown, origin=origin)
    return int(number)


def _retire(section: str, given: dict[str, Any], source: str) -> dict[str, Any]:
    """Drop or rename the retired keys of one section (RETIRED_KEYS), logging each."""
    for (sec, old), new in RETIRED_KEYS.items():
        if sec != section or old not in given:
            continue
        value = given.pop(old)
        if new is not None and new not in given:
            given[new] = value
        log.warning("config.retired_key section=%s key=%s replaced_by=%s origin=%s",
                    section, old, new or "-", source)
    return given


def _find_config(path: Path | str | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("config.file_missing", file=str(p))
        return p.resolve()
    if env.get("KB_CONFIG"):
        p = Path(env["KB_CONFIG"])
        if not p.is_file():
            raise ConfigError("config.kb_config_missing", file=str(p))
        return p.resolve()
    for candidate in (Path.cwd() / "config.toml", Path(__file__).resolve().parent.parent / "config.toml"):
        if candidate.is_file():
            return candidate.resolve()
    return None
