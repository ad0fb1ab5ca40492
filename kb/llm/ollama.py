"""Ollama administration: is it up, which models it has, where the model runs, and setting it up.

Chat and embeddings go through langchain-ollama elsewhere; this module answers the questions a
status page and `python -m kb model setup` ask, using the official `ollama` client. It is also
the one place that turns the client's and httpx's exceptions into `kb.errors` whose messages say
how to fix the problem: other modules can reuse `ollama_errors` for the same wording.
"""
from __future__ import annotations

import dataclasses
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

from kb.config import OllamaSettings, Settings
from kb.llm.modelfile import (ModelfileSpec, adapter_files, parse_modelfile, read_modelfile,  # noqa: F401 - re-exported
                        resolve_from, system_of)
from kb.llm.templates import choose_template, family_template, is_chat_template
from kb.llm.deadlines import DeadlineExceeded, DeadlineTransport, Deadlines, client_kwargs, http_client
from kb.errors import (GenerationError, KBError, ModelMissing, OllamaError, OllamaTimeout,
                     OllamaUnavailable)

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"
# Ollama 0.5.5 introduced the /api/create form that setup sends (`from`, `files`, `adapters`, `parameters`
# instead of a Modelfile text); an older server rejects it with "path or Modelfile are required".
MINIMUM_VERSION = "0.5.5"
# Recognised in Ollama's error text (matched, never interpreted further; the text itself is shown as is).
_OOM_MARKERS = ("out of memory", "cudamalloc failed", "failed to allocate cuda", "cuda error: out of memory",
                "unable to allocate cuda", "failed to allocate buffer", "insufficient memory")
_LAYOUT_MARKERS = ("memory layout cannot be allocated",)

# -- deadlines -------------------------------------------------------------------------------------


def ollama_deadlines(o: OllamaSettings) -> Deadlines:
    """Deadlines for answering and embedding: [ollama] connect_timeout, timeout (first byte and between
    lines: a first call may load the model) and answer_timeout (the whole answer)."""
    return Deadlines(connect=o.connect_timeout, first_byte=o.timeout, idle=o.timeout, total=o.answer_timeout)


def chat_model(settings: Settings):
    """ChatOllama with deadlines that hold and a cap on answer tokens.

    `num_predict` is a sampling option: sending it does not make Ollama reload the model (num_ctx,
    num_gpu and the other runner options would; the Modelfile sets those). The chat service also
    stops reading at the cap itself, for a server that ignores it. `[ollama] num_gpu` is the one
    runner option sent, and only when the user sets it: every request then carries the same value, so
    the model loads once with it (and `model setup` writes it into the model too).
    """
    from langchain_ollama import ChatOllama

    o = settings.ollama
    deadlines = ollama_deadlines(o)
    return ChatOllama(model=o.model, base_url=o.url, keep_alive=o.keep_alive, num_predict=o.max_answer_tokens,
                      num_gpu=o.num_gpu, client_kwargs={"timeout": deadlines.httpx_timeout()},
                      sync_client_kwargs={"transport": DeadlineTransport(deadlines)})


# -- error translation --------------------------------------------------------------------------


def _memory_code(error: str) -> str | None:
    text = error.lower()
    if any(marker in text for marker in _LAYOUT_MARKERS):
        return "ollama.memory_layout"
    if any(marker in text for marker in _OOM_MARKERS):
        return "ollama.out_of_memory"
    return None


def _response_error(exc: ollama.ResponseError, url: str, call: str, model: str | None,
                    midstream: type[OllamaError], failure: str | None) -> OllamaError:
    """Map an Ollama error body to the kb error class a caller can act on; Ollama's text is a parameter."""
    error = str(exc.error)
    if exc.status_code == 404 and model:
        return ModelMissing("ollama.model_missing", model=model)
    cls: type[OllamaError] = midstream if exc.status_code == -1 else OllamaError
    memory = _memory_code(error)
    if memory:
        return cls(memory, url=url, call=call, error=error, status=exc.status_code)
    if failure:
        return cls(failure, url=url, call=call, error=error, status=exc.status_code)
    if exc.status_code == -1:  # an {"error": ...} line inside a 200 stream
        return cls("ollama.midstream_error", url=url, call=call, error=error)
    return cls("ollama.http_error", url=url, call=call, error=error, status=exc.status_code)


@contextmanager
def ollama_errors(url: str, call: str, *, model: str | None = None, timeout: float | None = None,
                  midstream: type[OllamaError] = GenerationError, failure: str | None = None,
                  connect_timeout: float | None = None) -> Iterator[None]:
    """Translate ollama/httpx exceptions raised in the block into kb.errors with a code and the fix.

    `call` names what was asked (an endpoint such as "/api/chat", shown in both languages); `model`
    turns a 404 into ModelMissing; `midstream` is the class for an error line inside a 200 stream;
    `failure` is the code for an error body (e.g. "ollama.pull_failed"). Ollama's own error text
    always travels as the `error` parameter, never as the message itself.
    """
    try:
        yield
    except ollama.ResponseError as exc:
        raise _response_error(exc, url, call, model, midstream, failure) from exc
    except (ConnectionError, httpx.ConnectError) as exc:
        raise OllamaUnavailable("ollama.unreachable", url=url, call=call) from exc
    except DeadlineExceeded as exc:
        raise OllamaTimeout(f"ollama.deadline.{exc.phase}", url=url, call=call, seconds=exc.seconds) from exc
    except httpx.ConnectTimeout as exc:
        raise OllamaTimeout("ollama.deadline.connect", url=url, call=call,
                            seconds=connect_timeout or timeout) from exc
    except httpx.TimeoutException as exc:
        raise OllamaTimeout("ollama.timeout", url=url, call=call, seconds=timeout) from exc
    except httpx.HTTPStatusError as exc:
        raise OllamaError("ollama.not_ollama_status", url=url, call=call,
                          status=exc.response.status_code) from exc
    except httpx.HTTPError as exc:
        raise OllamaError("ollama.connection_broken", url=url, call=call, error=exc) from exc
    except (pydantic.ValidationError, json.JSONDecodeError) as exc:
        raise OllamaError("ollama.unexpected_answer", url=url, call=call, error=type(exc).__name__) from exc


# -- /api/show parameters ---------------------------------------------------------------------------


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


# -- what Ollama reports ---------------------------------------------------------------------------


def full_name(name: str) -> str:
    """Ollama's rule: a model name without a tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass(frozen=True)
class Placement:
    """Where a loaded model's layers went, from /api/ps size_vram against size.

    `kind`: "gpu" (all of it in GPU memory), "split" (CPU and GPU share it: slower), "cpu" (none on the
    GPU: slow) or "unknown" (Ollama's numbers do not add up). Percentages are rounded like `ollama ps`.
    """

    kind: str
    gpu_percent: int | None
    cpu_percent: int | None


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

    @property
    def layout(self) -> Placement:
        """The same judgement as `placement`, as data a page or the CLI words in its own language."""
        if self.size_vram == 0 and self.size > 0:
            return Placement("cpu", 0, 100)
        if self.size <= 0 or self.size_vram > self.size:
            return Placement("unknown", None, None)
        if self.size_vram == self.size:
            return Placement("gpu", 100, 0)
        cpu = int(math.floor((self.size - self.size_vram) / self.size * 100 + 0.5))
        return Placement("split", 100 - cpu, cpu)


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
    model_info: dict[str, Any] = field(default_factory=dict)  # /api/show model_info, for kb.llm.fit

    @property
    def template_source(self) -> str:
        """"gguf": Ollama renders with the GGUF's own chat template (>= 0.30 shows it in /api/show);
        "template": with the model's Go TEMPLATE."""
        return "gguf" if is_chat_template(self.template) else "template"


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
    error: str | None  # in the process language; a page renders `error_code` in its own
    error_code: str | None = None
    error_params: dict[str, Any] = field(default_factory=dict)


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
        system=system_of(show.modelfile),
        architecture=arch if isinstance(arch, str) else None,
        capabilities=tuple(show.capabilities or ()),
        model_info=info,
    )


def version_tuple(version: str) -> tuple[int, ...] | None:
    """(major, minor, patch) of "0.12.6", "v0.5.5-rc1" or "0.12"; None for "0.0.0" (a development build)
    and anything unreadable."""
    match = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if not match:
        return None
    parts = tuple(int(p or 0) for p in match.groups())
    return None if parts == (0, 0, 0) else parts


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

class OllamaAdmin:
    """Questions about, and setup of, the Ollama server at `base_url`; every failure is a KBError."""

    def __init__(self, base_url: str, timeout: float = 30.0, connect_timeout: float | None = None):
        """`timeout` bounds every question whole (head, body, between lines); pulls, creates and
        uploads have no total limit (a download takes what it takes) but the same idle limit."""
        self.url = _normalise_url(base_url)
        self.timeout = timeout
        connect = connect_timeout or min(timeout, 5.0)
        self.connect_timeout = connect
        short = Deadlines(connect=connect, first_byte=timeout, idle=timeout, total=timeout)
        long = Deadlines(connect=connect, first_byte=timeout, idle=timeout, total=None)
        self._client = ollama.Client(host=self.url, **client_kwargs(short))
        self._long = ollama.Client(host=self.url, **client_kwargs(long))
        self._http = http_client(short)

    def close(self) -> None:
        self._client.close()
        self._long.close()
        self._http.close()

    def __enter__(self) -> OllamaAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _errors(self, call: str, **kwargs: Any) -> AbstractContextManager[None]:
        return ollama_errors(self.url, call, timeout=self.timeout, connect_timeout=self.connect_timeout, **kwargs)

    def version(self) -> str:
        """The server version; also the cheapest 'is Ollama up' probe (the client has no call for it)."""
        with self._errors("/api/version"):
            response = self._http.get(f"{self.url}/api/version")
            response.raise_for_status()
            answer = response.json()
        version = answer.get("version") if isinstance(answer, dict) else None
        if not isinstance(version, str):
            raise OllamaError("ollama.no_version", url=self.url)
        return version

    def models(self) -> list[str]:
        """Installed model names as Ollama lists them (with tags, e.g. 'kb-qwen:latest')."""
        with self._errors("/api/tags"):
            listed = self._client.list()
        return [m.model for m in listed.models if m.model]

    def sizes(self) -> dict[str, int]:
        """Installed models and their file sizes in bytes (/api/tags), for the fit check."""
        with self._errors("/api/tags"):
            listed = self._client.list()
        return {m.model: int(m.size or 0) for m in listed.models if m.model}

    def has_model(self, name: str) -> bool:
        """True when `name` is installed; 'x' matches 'x:latest' as in Ollama."""
        wanted = full_name(name)
        return any(full_name(m) == wanted for m in self.models())

    def running(self, name: str | None = None) -> list[RunningModel]:
        """Loaded models (optionally only `name`), with where they sit: GPU, CPU or split."""
        with self._errors("/api/ps"):
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
        with self._errors(f"/api/show {name}", model=name):
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
            return OllamaStatus(self.url, False, None, (), model, False, None, None, str(exc), exc.code,
                                dict(exc.params))
        models: tuple[str, ...] = ()
        present = False
        try:
            models = tuple(self.models())
            present = any(full_name(m) == full_name(model) for m in models)
            running = next(iter(self.running(model)), None)
            details = self.show(model) if present else None
        except KBError as exc:
            log.info("ollama_status url=%s reachable=true error=%s", self.url, exc)
            return OllamaStatus(self.url, True, version, models, model, present, None, None, str(exc), exc.code,
                                dict(exc.params))
        have = version_tuple(version)
        if have is not None and have < version_tuple(MINIMUM_VERSION):
            old = OllamaError("ollama.too_old", version=version, minimum=MINIMUM_VERSION)
            return OllamaStatus(self.url, True, version, models, model, present, running, details, str(old),
                                old.code, dict(old.params))
        if present:
            return OllamaStatus(self.url, True, version, models, model, present, running, details, None)
        missing = ModelMissing("ollama.model_missing", model=model)
        return OllamaStatus(self.url, True, version, models, model, present, running, details, str(missing),
                            missing.code, dict(missing.params))

    def setup_model(self, name: str, modelfile: Path,
                    progress: Callable[[SetupProgress], None] | None = None, *, num_gpu: int | None = None) -> None:
        """Create `name` from a Modelfile, as `ollama create -f` would, pulling or uploading its base first.

        FROM local files: each is uploaded as a blob (skipped when Ollama has it) and sent as `files`.
        FROM a model name: it is pulled when missing, then sent as `from`. ADAPTER (a GGUF LoRA file
        or a safetensors folder) is uploaded the same way and sent as `adapters`. REQUIRES and an
        Ollama older than MINIMUM_VERSION are checked against /api/version first. Progress events are
        Ollama's own status lines. `num_gpu` (layers on the GPU) is sent only when the user asks for
        it: without it Ollama places as many layers as the free memory holds at each load.

        The template is the base model's own unless the Modelfile's TEMPLATE can do everything it can
        (kb/llm/templates.py `choose_template`: a ChatML TEMPLATE would take tools and thinking away);
        a model that comes out with less than its family's template offers (a GGUF file on an Ollama
        that does not use the file's own chat template) is created again with that template.
        """
        report = progress or (lambda event: None)
        path = Path(modelfile)
        spec = parse_modelfile(read_modelfile(path))
        if num_gpu is not None:
            spec = dataclasses.replace(spec, parameters={**spec.parameters, "num_gpu": num_gpu})
        base_dir = path.resolve().parent
        version = self._check_version(spec.requires)
        local = [resolve_from(value, base_dir) for value in spec.from_all]
        adapters = adapter_files(spec.adapter, base_dir) if spec.adapter else {}
        log.info("model_setup name=%s from=%s local=%s adapter=%s", name, spec.from_, local[-1] is not None,
                 spec.adapter)
        files: dict[str, str] | None = None
        if local[-1] is not None:
            files = {p.name: self._upload(p, report) for p in local if p is not None}
        else:
            self._ensure_base(spec.from_, report)
            spec = self._base_template(spec, report)
        uploaded = {key: self._upload(p, report) for key, p in adapters.items()} or None
        self._create(name, spec, files, uploaded, report)
        if files is None:  # a library model: its own template is its family's
            return
        created = self.show(name)
        family = family_template(created.architecture, created.capabilities, version)
        if family is not None:
            report(SetupProgress(f"using the {created.architecture} template: the model came out with "
                                 f"{', '.join(created.capabilities) or 'no capabilities'} only"))
            log.info("model_template name=%s chosen=family arch=%s", name, created.architecture)
            self._create(name, dataclasses.replace(spec, template=family), files, uploaded, report)

    def _base_template(self, spec: ModelfileSpec, report: Callable[[SetupProgress], None]) -> ModelfileSpec:
        """Drop the Modelfile's TEMPLATE when the base model's own can do more (tools, thinking)."""
        if not spec.template:
            return spec
        base = self.show(spec.from_)
        choice = choose_template(spec.template, base.capabilities)
        log.info("model_template from=%s chosen=%s missing=%s", spec.from_, choice.reason, ",".join(choice.missing))
        if choice.reason == "base":
            report(SetupProgress(f"using {spec.from_}'s own template: the Modelfile's TEMPLATE lacks "
                                 f"{', '.join(choice.missing)}"))
        return dataclasses.replace(spec, template=choice.template)

    def _check_version(self, requires: str | None) -> tuple[int, ...] | None:
        """Refuse an Ollama older than the Modelfile's REQUIRES, or than KB Studio needs; its version
        (None for a development build)."""
        version = self.version()
        have = version_tuple(version)
        if have is None:  # a development build ("0.0.0") or an unknown scheme: nothing to compare
            return None
        if requires and have < (version_tuple(requires) or (0,)):
            raise OllamaError("ollama.requires_newer", requires=requires, version=version)
        if have < version_tuple(MINIMUM_VERSION):
            raise OllamaError("ollama.too_old", version=version, minimum=MINIMUM_VERSION)
        return have

    def _upload(self, path: Path, report: Callable[[SetupProgress], None]) -> str:
        size = path.stat().st_size
        report(SetupProgress(f"hashing {path.name}", 0, size))
        digest = _file_digest(path)
        with self._errors(f"/api/blobs/{digest[:19]}"):
            present = self._http.head(f"{self.url}/api/blobs/{digest}").status_code == 200
        if present:
            report(SetupProgress(f"using existing blob for {path.name}", size, size))
            return digest
        report(SetupProgress(f"uploading {path.name}", 0, size))
        with self._errors(f"/api/blobs {path.name}"):
            uploaded = self._long.create_blob(path)
        report(SetupProgress(f"uploaded {path.name}", size, size))
        log.info("blob_uploaded file=%s digest=%s bytes=%d", path.name, uploaded, size)
        return uploaded

    def _ensure_base(self, base: str, report: Callable[[SetupProgress], None]) -> None:
        if self.has_model(base):
            report(SetupProgress(f"using installed {base}"))
            return
        log.info("model_pull name=%s", base)
        with self._errors(f"/api/pull {base}", midstream=OllamaError, failure="ollama.pull_failed"):
            for part in self._long.pull(base, stream=True):
                report(SetupProgress(part.status or "", part.completed, part.total))

    def _create(self, name: str, spec: ModelfileSpec, files: dict[str, str] | None,
                adapters: dict[str, str] | None, report: Callable[[SetupProgress], None]) -> None:
        last = ""
        license: list[str] | None = list(spec.license) or None
        with self._errors(f"/api/create {name}", midstream=OllamaError, failure="ollama.create_failed"):
            for part in self._long.create(model=name, from_=None if files else spec.from_, files=files,
                                          adapters=adapters, template=spec.template, system=spec.system,
                                          license=license, messages=list(spec.messages) or None,
                                          parameters=spec.parameters or None, stream=True):
                last = part.status or ""
                report(SetupProgress(last, part.completed, part.total))
        if last != "success":
            raise OllamaError("ollama.create_incomplete", model=name, status=repr(last))
        log.info("model_created name=%s", name)
