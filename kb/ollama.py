"""Ollama administration: is it up, which models it has, where the model runs, and setting it up.

Chat and embeddings go through langchain-ollama elsewhere; this module answers the questions a
status page and `python -m kb model setup` ask, using the official `ollama` client. It is also
the one place that turns the client's and httpx's exceptions into `kb.errors` whose messages say
how to fix the problem: other modules can reuse `ollama_errors` for the same wording.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import ollama
import pydantic

from .errors import (ConfigError, GenerationError, KBError, ModelMissing, OllamaError, OllamaTimeout,
                     OllamaUnavailable)

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"
_OOM_MARKERS = ("out of memory", "cudamalloc failed", "failed to allocate cuda")

# -- error translation --------------------------------------------------------------------------


def unreachable_message(url: str) -> str:
    return f"Ollama is not reachable at {url}: start it with `ollama serve` (or install it from ollama.com)"


def model_missing_message(name: str) -> str:
    return f"Model '{name}' is not in Ollama: run `python -m kb model setup`"


def timeout_message(url: str, action: str, timeout: float | None) -> str:
    within = f" within {timeout:g} s" if timeout else ""
    return (f"Ollama at {url} did not answer{within} while {action}: it may still be loading the model; "
            "try again, or raise `timeout` under [ollama] in config.toml")


def _oom_hint(error: str) -> str:
    if any(marker in error.lower() for marker in _OOM_MARKERS):
        return (". The model does not fit in GPU memory: lower num_ctx or num_gpu in the Modelfile or pick a "
                "smaller model, then run `python -m kb model setup`")
    return ""


def _response_error(exc: ollama.ResponseError, url: str, action: str, model: str | None,
                    midstream: type[OllamaError], hint: str) -> OllamaError:
    """Map an Ollama error body to the kb error class a caller can act on."""
    if exc.status_code == 404 and model:
        return ModelMissing(model_missing_message(model))
    suffix = _oom_hint(str(exc.error)) or (f". {hint}" if hint else "")
    if exc.status_code == -1:  # an {"error": ...} line inside a 200 stream
        return midstream(f"Ollama reported an error while {action}: {exc.error}{suffix}")
    return OllamaError(f"Ollama answered HTTP {exc.status_code} while {action}: {exc.error}{suffix}")


@contextmanager
def ollama_errors(url: str, action: str, *, model: str | None = None, timeout: float | None = None,
                  midstream: type[OllamaError] = GenerationError, hint: str = "") -> Iterator[None]:
    """Translate ollama/httpx exceptions raised in the block into kb.errors, with the fix in the message.

    `action` completes "while ..." (e.g. "listing models"); `model` turns a 404 into ModelMissing;
    `midstream` is the class for an error line inside a 200 stream; `hint` (a sentence) is appended
    to Ollama's own error text.
    """
    try:
        yield
    except ollama.ResponseError as exc:
        raise _response_error(exc, url, action, model, midstream, hint) from exc
    except (ConnectionError, httpx.ConnectError) as exc:
        raise OllamaUnavailable(unreachable_message(url)) from exc
    except httpx.TimeoutException as exc:
        raise OllamaTimeout(timeout_message(url, action, timeout)) from exc
    except httpx.HTTPStatusError as exc:
        raise OllamaError(f"{url} answered HTTP {exc.response.status_code} while {action}: "
                          "is that address really Ollama? Check [ollama] url in config.toml") from exc
    except httpx.HTTPError as exc:
        raise OllamaError(f"The connection to Ollama at {url} broke while {action} ({exc}): "
                          "check that `ollama serve` is still running") from exc
    except (pydantic.ValidationError, json.JSONDecodeError) as exc:
        raise OllamaError(f"{url} sent an unexpected answer while {action}: is that address really Ollama? "
                          f"Check [ollama] url in config.toml ({type(exc).__name__})") from exc


# -- Modelfile ------------------------------------------------------------------------------------

_COMMANDS = {"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter",
             "message", "requires"}
_UNSUPPORTED = {"adapter", "draft", "message"}  # would change the model; `ollama create` handles them
_PARAMETER_TYPES: dict[str, type] = {
    # runner (load-time) options
    "num_ctx": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "num_thread": int, "use_mmap": bool,
    # sampling options
    "num_keep": int, "seed": int, "num_predict": int, "top_k": int, "repeat_last_n": int,
    "draft_num_predict": int, "temperature": float, "top_p": float, "min_p": float, "typical_p": float,
    "repeat_penalty": float, "presence_penalty": float, "frequency_penalty": float, "stop": list,
}
_DEPRECATED_PARAMETERS = {"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
                          "mirostat", "mirostat_tau", "mirostat_eta"}
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True)
class ModelfileSpec:
    """What `ollama create` needs from a Modelfile; `parameters` are typed (stop is a list)."""

    from_: str
    template: str | None
    system: str | None
    parameters: dict[str, Any] = field(default_factory=dict)


def _bad(line: int, problem: str) -> ConfigError:
    return ConfigError(f"Modelfile line {line}: {problem}")


def _unquote(value: str) -> tuple[bool, str]:
    """Ollama's parser.unquote: is the value complete yet, and its text without the quotes."""
    if value.startswith('"""'):
        return (True, value[3:-3]) if len(value) >= 6 and value.endswith('"""') else (False, "")
    if value.startswith('"'):
        return (True, value[1:-1]) if len(value) >= 2 and value.endswith('"') else (False, "")
    return True, value


def _commands(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(line number, instruction, parameter name or "", value) per instruction, as Ollama's ParseFile reads.

    A value ends at the first line end where it is balanced: triple-quoted blocks and "..." may span
    lines. `#` starts a comment only where an instruction could start, so a trailing comment on a
    PARAMETER line would become part of its value (as in Ollama).
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].lstrip(" \t")
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z]+)(?:[ \t]+(.*))?$", line)
        if not match:
            raise _bad(number, f"cannot read {line.strip()[:40]!r}: expected `INSTRUCTION value`")
        name, value, key = match.group(1).lower(), match.group(2) or "", ""
        if name not in _COMMANDS:
            raise _bad(number, f"unknown instruction {match.group(1)!r}; use FROM, TEMPLATE, SYSTEM, PARAMETER, "
                               "LICENSE, ADAPTER, MESSAGE, REQUIRES, DRAFT, RENDERER or PARSER")
        if name == "parameter":
            named = re.match(r"([A-Za-z0-9_]+)[ \t]+(.*)$", value)
            if not named:
                raise _bad(number, f"PARAMETER needs a name and a value, got {value.strip()!r}")
            key, value = named.groups()
        complete, unquoted = _unquote(value.strip())
        while not complete:
            if i >= len(lines):
                raise _bad(number, f"{name.upper()} value has an unterminated quote (\" or \"\"\")")
            value += "\n" + lines[i]
            i += 1
            complete, unquoted = _unquote(value.strip())
        if not value.strip():
            raise _bad(number, f"{name.upper()} needs a value")
        yield number, name, key, unquoted


def _typed_parameter(number: int, key: str, value: str) -> Any:
    kind = _PARAMETER_TYPES[key]
    try:
        if kind is int:
            return int(value, 10)
        if kind is float:
            return float(value)
        if kind is bool:
            return _GO_BOOLS[value]
    except (ValueError, KeyError):
        raise _bad(number, f"PARAMETER {key} must be {'an integer' if kind is int else kind.__name__}, "
                           f"got {value!r} (comments must be on their own line)") from None
    return value


def parse_modelfile(text: str) -> ModelfileSpec:
    """Read a Modelfile as `ollama create` would, so setup sends the same request the CLI sends.

    Raises ConfigError naming the line for anything Ollama would reject, and for ADAPTER, DRAFT and
    MESSAGE, which `python -m kb model setup` does not send.
    """
    source: tuple[int, str] | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = {}
    for number, name, key, value in _commands(text):
        if name == "from":
            if source is not None:
                raise _bad(number, f"second FROM (the first is on line {source[0]}); keep one")
            source = (number, value)
        elif name == "template":
            template = value
        elif name == "system":
            system = value
        elif name == "parameter":
            _add_parameter(parameters, number, key, value)
        elif name in _UNSUPPORTED:
            raise _bad(number, f"{name.upper()} is not supported by `python -m kb model setup`; "
                               "remove it, or create the model with `ollama create -f Modelfile`")
        else:
            log.debug("modelfile_ignored line=%d instruction=%s", number, name)
    if source is None:
        raise ConfigError("Modelfile has no FROM line: add one, e.g. `FROM qwen2.5:1.5b`")
    return ModelfileSpec(source[1], template, system, parameters)


def _add_parameter(parameters: dict[str, Any], number: int, key: str, raw: str) -> None:
    if key in _DEPRECATED_PARAMETERS:
        log.warning("modelfile_parameter_deprecated line=%d name=%s (Ollama ignores it)", number, key)
        return
    if key not in _PARAMETER_TYPES:
        raise _bad(number, f"unknown parameter '{key}'; valid names: {', '.join(sorted(_PARAMETER_TYPES))}")
    if key == "stop":
        parameters.setdefault("stop", []).append(raw)
    else:
        parameters[key] = _typed_parameter(number, key, raw)


def parse_show_parameters(text: str) -> dict[str, Any]:
    """Read /api/show `parameters` (Go `%-30s %#v` lines; lists repeat the key) into typed values."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, raw = line.strip().partition(" ")
        if not key:
            continue
        value = _show_value(raw.strip())
        if key == "stop" or key in out:
            previous = out.get(key, [])
            out[key] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            out[key] = value
    return out


def _show_value(raw: str) -> Any:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            return raw.strip('"')
    if raw in ("true", "false"):
        return raw == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _system_from_modelfile(text: str | None) -> str:
    """The SYSTEM of an installed model, read from `ollama show`'s Modelfile (the client drops `system`)."""
    system = ""
    try:
        for _, name, _, value in _commands(text or ""):
            if name == "system":
                system = value
    except ConfigError as exc:
        log.debug("show_modelfile_unreadable reason=%s", exc)
    return system


def _looks_like_path(value: str) -> bool:
    """A FROM that names a file (not a model such as qwen2.5:1.5b or hf.co/user/repo:Q4_K_M)."""
    return (value.startswith((".", "/", "~", "\\")) or re.match(r"[A-Za-z]:[\\/]", value) is not None
            or value.lower().endswith((".gguf", ".bin")))


def resolve_from(value: str, base_dir: Path) -> Path | None:
    """The local file a FROM names (relative to the Modelfile, ~ expanded), or None for a model name."""
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    if candidate.is_dir():
        raise ConfigError(f"FROM {value} is a folder: only a single .gguf file is supported here; "
                          "use `ollama create -f Modelfile` for safetensors folders")
    if candidate.is_file():
        return candidate
    if _looks_like_path(value):
        raise ConfigError(f"FROM {value}: no such file at {candidate}; download the GGUF there, or set FROM "
                          "to a library model such as qwen2.5:1.5b")
    return None


# -- what Ollama reports ---------------------------------------------------------------------------


def full_name(name: str) -> str:
    """Ollama's rule: a model name without a tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass(frozen=True)
class RunningModel:
    """One loaded model from /api/ps; `size` is the whole footprint (weights + KV + graph), not the file."""

    name: str
    size: int
    size_vram: int
    context_length: int | None
    expires_at: str | None

    @property
    def gpu_fraction(self) -> float | None:
        """Share of the footprint in GPU memory, or None when Ollama's numbers do not add up."""
        if self.size <= 0 or self.size_vram > self.size:
            return None
        return self.size_vram / self.size

    @property
    def placement(self) -> str:
        """Exactly what `ollama ps` prints in its PROCESSOR column."""
        if self.size_vram == 0:
            return "100% CPU"
        if self.size_vram == self.size:
            return "100% GPU"
        if self.size_vram > self.size or self.size == 0:
            return "Unknown"
        cpu = int(math.floor((self.size - self.size_vram) / self.size * 100 + 0.5))  # Go's math.Round
        return f"{cpu}%/{100 - cpu}% CPU/GPU"


@dataclass(frozen=True)
class ModelDetails:
    """From /api/show: `context_length` is what the model was trained for, `num_ctx` what its Modelfile sets."""

    name: str
    context_length: int | None
    num_ctx: int | None
    block_count: int | None
    parameters: dict[str, Any]
    template: str
    system: str
    architecture: str | None = None
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class OllamaStatus:
    """Everything a status page shows. `reachable` means an Ollama answered; `error` is the message to show."""

    url: str
    reachable: bool
    version: str | None
    models: tuple[str, ...]
    model: str
    model_present: bool
    running: RunningModel | None
    details: ModelDetails | None
    error: str | None


@dataclass(frozen=True)
class SetupProgress:
    """One progress event of `setup_model` (Ollama's pull/create status lines, plus our upload steps)."""

    status: str
    completed: int | None = None
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        if self.total and self.completed is not None:
            return min(1.0, self.completed / self.total)
        return None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _details_from_show(name: str, show: ollama.ShowResponse) -> ModelDetails:
    info = dict(show.modelinfo or {})
    arch = info.get("general.architecture")
    parameters = parse_show_parameters(show.parameters or "")
    return ModelDetails(
        name=name,
        context_length=_int_or_none(info.get(f"{arch}.context_length")),
        num_ctx=_int_or_none(parameters.get("num_ctx")),
        block_count=_int_or_none(info.get(f"{arch}.block_count")),
        parameters=parameters,
        template=show.template or "",
        system=_system_from_modelfile(show.modelfile),
        architecture=arch if isinstance(arch, str) else None,
        capabilities=tuple(show.capabilities or ()),
    )


def _normalise_url(base_url: str) -> str:
    url = (base_url or DEFAULT_URL).strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return f"sha256:{sha.hexdigest()}"


# -- the admin client ------------------------------------------------------------------------------

_PULL_HINT = "Check the FROM line of the Modelfile against ollama.com/library, and this PC's internet connection"
_CREATE_HINT = "Check the Modelfile; `ollama show <model> --modelfile` shows what Ollama made of it"


class OllamaAdmin:
    """Questions about, and setup of, the Ollama server at `base_url`; every failure is a KBError."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.url = _normalise_url(base_url)
        self.timeout = timeout
        self._client = ollama.Client(host=self.url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OllamaAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _errors(self, action: str, **kwargs: Any) -> AbstractContextManager[None]:
        return ollama_errors(self.url, action, timeout=self.timeout, **kwargs)

    def version(self) -> str:
        """The server version; also the cheapest 'is Ollama up' probe (the client has no call for it)."""
        with self._errors("asking for its version"):
            response = httpx.get(f"{self.url}/api/version", timeout=self.timeout)
            response.raise_for_status()
            version = response.json().get("version")
        if not isinstance(version, str):
            raise OllamaError(f"{self.url} answered /api/version without a version: is that address really "
                              "Ollama? Check [ollama] url in config.toml")
        return version

    def models(self) -> list[str]:
        """Installed model names as Ollama lists them (with tags, e.g. 'kb-qwen:latest')."""
        with self._errors("listing models"):
            listed = self._client.list()
        return [m.model for m in listed.models if m.model]

    def has_model(self, name: str) -> bool:
        """True when `name` is installed; 'x' matches 'x:latest' as in Ollama."""
        wanted = full_name(name)
        return any(full_name(m) == wanted for m in self.models())

    def running(self, name: str | None = None) -> list[RunningModel]:
        """Loaded models (optionally only `name`), with where they sit: GPU, CPU or split."""
        with self._errors("listing loaded models"):
            ps = self._client.ps()
        found = [RunningModel(name=m.model or m.name or "", size=int(m.size or 0), size_vram=int(m.size_vram or 0),
                              context_length=m.context_length,
                              expires_at=m.expires_at.isoformat() if m.expires_at else None)
                 for m in ps.models]
        if name is not None:
            found = [m for m in found if full_name(m.name) == full_name(name)]
        return found

    def show(self, name: str) -> ModelDetails:
        """Template, system, parameters and architecture of an installed model; ModelMissing if absent."""
        with self._errors(f"reading the details of '{name}'", model=name):
            show = self._client.show(name)
        return _details_from_show(name, show)

    def context_length(self, name: str) -> int | None:
        """The context Ollama will actually use: the loaded runner's, else the Modelfile's num_ctx, else None.

        None means the server default applies (4096 on a < 24 GiB GPU since v0.6.7, OLLAMA_CONTEXT_LENGTH
        if set); callers should fall back to their configured num_ctx.
        """
        for model in self.running(name):
            if model.context_length:
                return model.context_length
        return self.show(name).num_ctx

    def status(self, model: str) -> OllamaStatus:
        """A snapshot for the status page. Never raises: a failure is in `error`, ready to show."""
        try:
            version = self.version()
        except KBError as exc:
            log.info("ollama_status url=%s reachable=false error=%s", self.url, exc)
            return OllamaStatus(self.url, False, None, (), model, False, None, None, str(exc))
        models: tuple[str, ...] = ()
        present = False
        try:
            models = tuple(self.models())
            present = any(full_name(m) == full_name(model) for m in models)
            running = next(iter(self.running(model)), None)
            details = self.show(model) if present else None
        except KBError as exc:
            log.info("ollama_status url=%s reachable=true error=%s", self.url, exc)
            return OllamaStatus(self.url, True, version, models, model, present, None, None, str(exc))
        error = None if present else model_missing_message(model)
        return OllamaStatus(self.url, True, version, models, model, present, running, details, error)

    def setup_model(self, name: str, modelfile: Path,
                    progress: Callable[[SetupProgress], None] | None = None) -> None:
        """Create `name` from a Modelfile, as `ollama create -f` would, pulling or uploading its base first.

        FROM a local file: the file is uploaded as a blob (skipped when Ollama has it) and sent as
        `files`. FROM a model name: it is pulled when missing, then sent as `from`. Progress events
        are Ollama's own status lines.
        """
        report = progress or (lambda event: None)
        path = Path(modelfile)
        spec = parse_modelfile(_read_modelfile(path))
        local = resolve_from(spec.from_, path.resolve().parent)
        log.info("model_setup name=%s from=%s local=%s", name, spec.from_, local is not None)
        if local is not None:
            files: dict[str, str] | None = {local.name: self._upload(local, report)}
        else:
            files = None
            self._ensure_base(spec.from_, report)
        self._create(name, spec, files, report)

    def _upload(self, path: Path, report: Callable[[SetupProgress], None]) -> str:
        size = path.stat().st_size
        report(SetupProgress(f"hashing {path.name}", 0, size))
        digest = _file_digest(path)
        with self._errors(f"checking for blob {digest[:19]}"):
            present = httpx.head(f"{self.url}/api/blobs/{digest}", timeout=self.timeout).status_code == 200
        if present:
            report(SetupProgress(f"using existing blob for {path.name}", size, size))
            return digest
        report(SetupProgress(f"uploading {path.name}", 0, size))
        with self._errors(f"uploading {path.name}"):
            uploaded = self._client.create_blob(path)
        report(SetupProgress(f"uploaded {path.name}", size, size))
        log.info("blob_uploaded file=%s digest=%s bytes=%d", path.name, uploaded, size)
        return uploaded

    def _ensure_base(self, base: str, report: Callable[[SetupProgress], None]) -> None:
        if self.has_model(base):
            report(SetupProgress(f"using installed {base}"))
            return
        log.info("model_pull name=%s", base)
        with self._errors(f"pulling '{base}'", midstream=OllamaError, hint=_PULL_HINT):
            for part in self._client.pull(base, stream=True):
                report(SetupProgress(part.status or "", part.completed, part.total))

    def _create(self, name: str, spec: ModelfileSpec, files: dict[str, str] | None,
                report: Callable[[SetupProgress], None]) -> None:
        last = ""
        with self._errors(f"creating '{name}'", midstream=OllamaError, hint=_CREATE_HINT):
            for part in self._client.create(model=name, from_=None if files else spec.from_, files=files,
                                            template=spec.template, system=spec.system,
                                            parameters=spec.parameters or None, stream=True):
                last = part.status or ""
                report(SetupProgress(last, part.completed, part.total))
        if last != "success":
            raise OllamaError(f"Ollama stopped creating '{name}' without success (last status {last!r}): "
                              "see the `ollama serve` log")
        log.info("model_created name=%s", name)


def _read_modelfile(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Modelfile not found at {path}: set [ollama] modelfile in config.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the Modelfile {path}: {exc}") from exc
