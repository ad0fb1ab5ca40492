"""A protocol-faithful stand-in for the Ollama server, so tests can drive the real clients.

Ollama cannot run in CI (no GPU, no model downloads), but the code under test talks to it through
the real `ollama` client and `langchain_ollama` over real HTTP. This server answers the way Ollama
does (see shared/reference/ollama.md §1 and §5): NDJSON streaming by default with chunked transfer,
`message.role` on every chat line, metrics (ns) only on the final `done:true` line, errors as
`{"error": ...}` with a status before streaming starts and as an NDJSON line under 200 after.

    with OllamaStandin() as server:
        server.reply = "你好"                      # or a callable: request body dict -> text
        ChatOllama(model="kb-qwen", base_url=server.url).invoke("hi")
        server.calls("/api/chat")[0].body        # the JSON the client sent

Knobs (plain attributes, set them before the request): `reply`, `thinking`, `token_delay`, `first_token_delay`,
`fail_mode`, `fail_after`, `error_message`, `stall_timeout`, `dribble_interval`, `loaded_size`, `loaded_size_vram`,
`loaded_context_length`, `gpu_free`, `version`, `embed_dim`, `pullable`. Models: `add_model`, `remove_model`,
`load`, `unload`.

Misbehaviours real Ollama does not have but a broken proxy, a wedged runner or a hostile host can
(`fail_mode`), for the client's deadlines: "dribble_headers" answers every route with a status line
and then header bytes, one every `dribble_interval` seconds, forever; "dribble_body" sends a proper
NDJSON head and then one body byte every `dribble_interval` seconds without ever ending a line;
"endless" streams the reply's pieces round and round, ignoring `num_predict`, never sending
`done`. Each ends when the client hangs up or the server stops.

Templates and capabilities follow the version the stand-in reports (`version`, /api/version): a model has
a Go TEMPLATE layer (`template`) and its GGUF a chat template (`chat_template`, Jinja). Before 0.30 the Go
TEMPLATE renders; from 0.30 the GGUF's chat template does when there is no Go TEMPLATE or when it offers
more capabilities (server/images.go shouldPreferChatTemplate), and /api/show returns the selected template.
`capabilities` are worked out from the selected template as Ollama does (`.Tools` -> tools, `.Suffix` ->
insert, `.Thinking` between tags in a range over `.Messages` -> thinking from 0.9; "tools"/"tool_call" and
"<think>"+"</think>" in a chat template), unless a FakeModel sets them (embedding models). A GGUF file
uploaded for /api/create gets the autodetected ChatML, and stands for Qwen3 when its name says qwen3.

Token counts in the final metrics are an approximation, not a tokenizer:
prompt_eval_count = max(1, characters // 2) over the message contents (chat; the model's SYSTEM is
added when the request has no system message) or system + prompt (generate); eval_count = the number
of streamed pieces (an ASCII word or a single other character, with its leading whitespace).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Iterator

from kb.llm.templates import QWEN2_TEMPLATE, QWEN3_TEMPLATE  # the library templates' text (data only)

FAIL_MODES = (None, "500_before_stream", "error_midstream", "stall", "404", "dribble_headers", "dribble_body", "endless")
DEFAULT_REPLY = "这是替身模型的回答 (stand-in reply)。"
DEFAULT_THINKING = "用户在问资料里的内容。资料 [2] 似乎相关，但我先想一想再回答。"
DEFAULT_MODELS = ("kb-qwen:latest", "qwen2.5:1.5b")
DEFAULT_NUM_CTX = 4096  # Ollama v0.6.7+ default on a < 24 GiB GPU
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)
CHATML_STOPS = ["<|im_start|>", "<|im_end|>"]
DEFAULT_TEMPLATE = "{{ .Prompt }}"  # template.DefaultTemplate: a model without a TEMPLATE layer
# The library models' Go TEMPLATE layers (the text only; the stand-in works out their capabilities itself).
QWEN25_TEMPLATE, QWEN3_TEMPLATE = QWEN2_TEMPLATE, QWEN3_TEMPLATE
# What their GGUFs carry as tokenizer.chat_template (Jinja), cut to the parts Ollama's capability checks read.
QWEN25_CHAT_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n# Tools\\n<tools>' }}{%- for tool in tools %}{{ tool | tojson }}"
    "{%- endfor %}{{- '</tools>\\n<tool_call>...</tool_call><|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role == \"assistant\" and message.tool_calls %}"
    "{%- for tool_call in message.tool_calls %}<tool_call>{{ tool_call.function | tojson }}</tool_call>{%- endfor %}"
    "{%- elif message.role == \"tool\" %}<tool_response>{{ message.content }}</tool_response>"
    "{%- else %}{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}")
QWEN3_CHAT_TEMPLATE = QWEN25_CHAT_TEMPLATE.replace(
    "{%- endfor %}{%- if add_generation_prompt %}",
    "{%- set reasoning_content = message.content.split('</think>')[0].split('<think>')[-1] %}"
    "{%- endfor %}{%- if add_generation_prompt %}") + (
    "{%- if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}")
CHAT_TEMPLATE_VERSION = (0, 30, 0)  # server/images.go: the GGUF's chat template preferred (llama-server runner)
THINKING_VERSION = (0, 9, 0)         # the "thinking" capability
# convert.ConvertAdapter converts safetensors LoRA adapters for these base architectures only.
SAFETENSORS_ADAPTER_ARCHITECTURES = ("llama", "gemma2")
_GIB = 1024 ** 3
CUDA_RESERVE = 457 * 1024 ** 2  # ml.DeviceInfo.MinimumMemory() for a CUDA card
_MIB = 1024 ** 2

# api.Options / api.Runner field types, for the server-side type check of request `options`.
_INT_OPTIONS = {"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch", "num_gpu",
                "main_gpu", "num_thread"}
_FLOAT_OPTIONS = {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty",
                  "frequency_penalty"}
_BOOL_OPTIONS = {"use_mmap"}
_METRICS = {"total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
            "eval_duration"}


@dataclass
class FakeModel:
    """What the stand-in knows about one installed model: enough for tags, ps, show and chat."""

    name: str
    size: int = 986_061_892
    family: str = "qwen2"
    parameter_size: str = "1.5B"
    quantization_level: str = "Q4_K_M"
    block_count: int = 28
    context_length: int = 32768
    embedding_length: int = 1536
    head_count: int = 12
    head_count_kv: int = 2
    key_length: int | None = None  # in model_info only when the GGUF has it (qwen3 does, qwen2 does not)
    template: str = QWEN25_TEMPLATE  # the Go TEMPLATE layer; "" = none (DEFAULT_TEMPLATE applies)
    chat_template: str = QWEN25_CHAT_TEMPLATE  # the GGUF's tokenizer.chat_template; "" = none
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"stop": list(CHATML_STOPS)})
    capabilities: tuple[str, ...] | None = None  # None: worked out from the templates as the server version does
    license: str = ""
    adapters: tuple[str, ...] = ()  # blob digests (hex) of LoRA adapter layers
    messages: tuple[dict[str, str], ...] = ()
    digest: str = ""
    modified_at: str = ""

    def __post_init__(self) -> None:
        self.name = full_name(self.name)
        if not self.digest:
            self.digest = hashlib.sha256(self.name.encode()).hexdigest()
        if not self.modified_at:
            self.modified_at = _now()

    @property
    def details(self) -> dict[str, Any]:
        return {"parent_model": "", "format": "gguf", "family": self.family, "families": [self.family],
                "parameter_size": self.parameter_size, "quantization_level": self.quantization_level}

    def kv_bytes(self, num_ctx: int) -> int:
        """f16 KV cache, Ollama's estimator: 2 (K,V) x layers x ctx x kv heads x head_dim x 2 bytes."""
        head_dim = self.key_length or self.embedding_length // max(self.head_count, 1)
        return 2 * self.block_count * num_ctx * self.head_count_kv * head_dim * 2


def _qwen(name: str, **kw: Any) -> FakeModel:
    return FakeModel(name, **kw)


_QWEN3 = dict(family="qwen3", context_length=40960, head_count_kv=8, key_length=128,
              template=QWEN3_TEMPLATE, chat_template=QWEN3_CHAT_TEMPLATE)
_EMBED = dict(template=DEFAULT_TEMPLATE, chat_template="", parameters={}, capabilities=("embedding",))

LIBRARY: dict[str, Callable[[], FakeModel]] = {
    "qwen2.5:0.5b": lambda: _qwen("qwen2.5:0.5b", size=397_821_319, parameter_size="494.03M", block_count=24,
                                  embedding_length=896, head_count=14),
    "qwen2.5:1.5b": lambda: _qwen("qwen2.5:1.5b"),
    "qwen2.5:3b": lambda: _qwen("qwen2.5:3b", size=1_929_912_432, parameter_size="3.1B", block_count=36,
                                embedding_length=2048, head_count=16),
    "qwen3:0.6b": lambda: _qwen("qwen3:0.6b", size=522_653_767, parameter_size="751.63M", embedding_length=1024,
                                head_count=16, **_QWEN3),
    "qwen3:1.7b": lambda: _qwen("qwen3:1.7b", size=1_359_293_444, parameter_size="2.0B", embedding_length=2048,
                                head_count=16, **_QWEN3),
    "qwen3:4b": lambda: _qwen("qwen3:4b", size=2_497_293_918, parameter_size="4.0B", block_count=36,
                              embedding_length=2560, head_count=32, **_QWEN3),
    "nomic-embed-text:latest": lambda: FakeModel("nomic-embed-text", size=274_302_450, family="nomic-bert",
                                                 parameter_size="137M", quantization_level="F16", block_count=12,
                                                 context_length=2048, embedding_length=768, head_count=12,
                                                 head_count_kv=12, **_EMBED),
    "bge-m3:latest": lambda: FakeModel("bge-m3", size=1_157_672_605, family="bert", parameter_size="566.70M",
                                       quantization_level="F16", block_count=24, context_length=8192,
                                       embedding_length=1024, head_count=16, head_count_kv=16, **_EMBED),
}


def kb_qwen_model() -> FakeModel:
    """The model `python -m kb model setup` creates from ./Modelfile (qwen2.5:1.5b + our settings)."""
    return FakeModel("kb-qwen", system="只依据编号资料回答，并用 [n] 标注出处。",
                     parameters={"num_ctx": 4096, "stop": list(CHATML_STOPS), "temperature": 0.1})


def full_name(name: str) -> str:
    """Ollama's name normalisation: a name without a tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def make_model(name: str) -> FakeModel:
    """A library model by tag, `kb-qwen`, or a generic qwen2.5:1.5b-like model under that name."""
    key = full_name(name)
    if key == "kb-qwen:latest":
        return kb_qwen_model()
    if key in LIBRARY:
        return LIBRARY[key]()
    return FakeModel(key)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it: `body` is the parsed JSON (None when absent or not JSON),
    `headers` have lower-case names, `time` is `time.time()` on arrival."""

    method: str
    path: str
    body: Any
    raw: bytes
    headers: dict[str, str]
    time: float


@dataclass
class _Loaded:
    model: FakeModel
    size: int
    size_vram: int
    context_length: int
    expires_at: str


class _Thought(str):
    """A piece of a thinking model's reasoning: streamed in the `thinking` field, not in `content`."""


class _ClientError(Exception):
    """Abort handling with an Ollama-style error response."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Stopped(Exception):
    """The server is stopping (or a stall timed out): drop the connection without finishing."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unused_url() -> str:
    """A loopback URL where nothing listens, for 'Ollama is down' tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def split_pieces(text: str) -> list[str]:
    """Cut a reply into stream pieces: an ASCII word or one other character, with leading spaces."""
    return re.findall(r"\s*[A-Za-z0-9_']+|\s*[^\sA-Za-z0-9_']|\s+", text)


def count_tokens(text: str) -> int:
    """The stand-in's prompt-token estimate (documented in the module docstring)."""
    return max(1, len(text) // 2)


def fake_embedding(text: str, dim: int) -> list[float]:
    """Deterministic L2-normalised vector from hashed character bigrams: shared text -> higher cosine."""
    vec = [0.0] * dim
    padded = f"\x02{text}\x03"
    for i in range(len(padded) - 1):
        h = hashlib.blake2b(padded[i:i + 2].encode("utf-8"), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0], norm = 1.0, 1.0
    return [v / norm for v in vec]


_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: Any) -> float | None:
    """keep_alive in seconds (negative = forever), as Ollama reads it; None = server default (5m)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _ClientError(400, f"invalid keep_alive {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if text == "0":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION_RE.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise _ClientError(400, f'time: missing unit in duration "{text}"')
    return sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def check_options(options: Any) -> dict[str, Any]:
    """Ollama's Options.FromMap: nulls skipped, unknown keys ignored, wrong types rejected."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise _ClientError(400, "json: cannot unmarshal options")
    clean = {k: v for k, v in options.items() if v is not None}
    for key, value in clean.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key in _INT_OPTIONS and not number:
            raise _ClientError(400, f'option "{key}" must be of type integer')
        if key in _FLOAT_OPTIONS and not number:
            raise _ClientError(400, f'option "{key}" must be of type float32')
        if key in _BOOL_OPTIONS and not isinstance(value, bool):
            raise _ClientError(400, f'option "{key}" must be of type boolean')
        if key == "stop" and not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
            raise _ClientError(400, f'option "{key}" must be of type array')
    return clean


def _num_gpu(options: dict[str, Any], m: FakeModel) -> int | None:
    """The num_gpu a load uses: the request's, else the model's parameter, else None (Ollama decides)."""
    value = options.get("num_gpu", m.parameters.get("num_gpu"))
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _go_value(value: Any) -> str:
    """Go's `%#v` for a JSON-decoded value, as /api/show formats `parameters`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _go_quote(text: str) -> str:
    """parser.quote from Ollama: how `ollama show --modelfile` writes a value."""
    if "\n" in text or text.startswith(" ") or text.endswith(" "):
        return f'"""{text}"""' if '"' in text else f'"{text}"'
    return text


def _parameter_items(parameters: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key in sorted(parameters):
        value = parameters[key]
        for item in value if isinstance(value, list) else [value]:
            yield key, item


# -- templates and capabilities (server/images.go, template/template.go, thinking/template.go) -------------


def _version(text: str) -> tuple[int, int, int]:
    """"0.12.6" -> (0, 12, 6); a development build ("0.0.0") counts as the newest."""
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]] + [0, 0, 0]
    return (999, 0, 0) if parts[:3] == [0, 0, 0] else (parts[0], parts[1], parts[2])


def _go_vars(template: str) -> set[str]:
    """template.Vars: the lower-cased identifiers of every field and variable in the actions."""
    names: set[str] = set()
    for action in re.findall(r"\{\{(.*?)\}\}", template, re.S):
        action = re.sub(r'"[^"]*"', "", action)
        for chain in re.findall(r"(?:\$\w*)?(?:\.\w+)+", action):
            names.update(part.lower() for part in chain.split(".")[1:])
    return names


def _go_thinks(template: str) -> bool:
    """thinking.InferTags found an opening and a closing tag around .Thinking in a range over .Messages."""
    for m in re.finditer(r"\{\{-?\s*\.Thinking\s*-?\}\}", template):
        head, tail = template[:m.start()], template[m.end():]
        inside_range = re.search(r"range[^}]*\.Messages", head) is not None
        if inside_range and head[head.rfind("}}") + 2:].strip() and tail.split("{{", 1)[0].strip():
            return True
    return False


def go_template_capabilities(template: str, version: tuple[int, int, int]) -> list[str]:
    names = _go_vars(template)
    caps = [c for c, ok in (("tools", "tools" in names), ("insert", "suffix" in names)) if ok]
    if version >= THINKING_VERSION and _go_thinks(template):
        caps.append("thinking")
    return caps


def chat_template_capabilities(chat: str) -> list[str]:
    caps = []
    if "tools" in chat or "tool_call" in chat:
        caps.append("tools")
    if "<think>" in chat and "</think>" in chat:
        caps.append("thinking")
    return caps


def _chat_round_trip(chat: str) -> bool:
    return (("tools" in chat or "tool_call" in chat) and ("tool_calls" in chat or "assistant_tool_call" in chat)
            and any(s in chat for s in ("tool_response", "tool_results", "role'] == 'tool'", 'role"] == "tool"',
                                        "message.role == 'tool'", 'message.role == "tool"', "ipython")))


def _go_round_trip(template: str) -> bool:
    names = _go_vars(template)
    return ("tools" in names and "toolcalls" in names
            and any(s in template for s in ('eq .Role "tool"', "tool_response", "TOOL_RESULTS")))


def prefers_chat_template(chat: str, go: str, version: tuple[int, int, int]) -> bool:
    """GetModel's PreferChatTemplate (shouldPreferChatTemplate), on Ollama >= 0.30 only."""
    if version < CHAT_TEMPLATE_VERSION or not chat or not go:
        return False
    chat_caps, go_caps = chat_template_capabilities(chat), go_template_capabilities(go, version)
    if len(chat_caps) > len(go_caps):
        return not _go_round_trip(go) or _chat_round_trip(chat)
    if set(chat_caps) != set(go_caps) or "tools" not in chat_caps:
        return False
    return _chat_round_trip(chat) and not _go_round_trip(go)


def selected_template(m: FakeModel, version: tuple[int, int, int]) -> tuple[str, list[str]]:
    """The template a chat renders with and the capabilities /api/show lists, as that version decides.

    Before 0.30 the Go TEMPLATE (or the default) always renders. From 0.30 the GGUF's chat template does
    when the model has no Go TEMPLATE, or when it can do more than the Go one; /api/show then returns it."""
    if m.capabilities is not None:
        return m.template or DEFAULT_TEMPLATE, list(m.capabilities)
    native = version >= CHAT_TEMPLATE_VERSION and bool(m.chat_template) and (
        not m.template or prefers_chat_template(m.chat_template, m.template, version))
    if native:
        return m.chat_template, [*chat_template_capabilities(m.chat_template), "completion"]
    template = m.template or DEFAULT_TEMPLATE
    return template, ["completion", *go_template_capabilities(template, version)]


class OllamaStandin:
    """A fake Ollama on 127.0.0.1:<free port>, served from a background thread.

    Use as a context manager (or call `start`/`stop`). Everything a test may tweak is a plain
    attribute; the installed and loaded models change as real Ollama's would (pull and create add
    one, delete removes one, chat/generate/embed load one and `keep_alive: 0` unloads it).
    """

    def __init__(self, models: Iterable[str | FakeModel] = DEFAULT_MODELS, *,
                 reply: str | Callable[[dict[str, Any]], str] = DEFAULT_REPLY, version: str = "0.12.6"):
        self.reply = reply
        self.thinking: str | Callable[[dict[str, Any]], str] = DEFAULT_THINKING  # what a thinking model thinks
        self.version = version
        self.token_delay = 0.0
        self.first_token_delay = 0.0
        self.fail_mode: str | None = None
        self.fail_after = 2              # pieces sent before "error_midstream" / "stall" strike
        self.error_message: str | None = None
        self.stall_timeout = 30.0        # a stalled response gives up (drops the connection) after this
        self.dribble_interval = 1.0      # seconds between bytes in the "dribble_*" modes
        self.loaded_size: int | None = None          # /api/ps size; None = weights + KV + 300 MiB graph
        self.loaded_size_vram: int | None = None     # None = all of size (100% GPU), or placed in gpu_free
        self.gpu_free: int | None = None             # free VRAM in bytes; None = everything fits
        self.loaded_context_length: int | None = None  # None = the num_ctx the load used
        self.embed_dim: int | None = None            # None = the model's embedding_length
        self.pullable: set[str] | None = None        # None = any name can be pulled
        self._lock = threading.Lock()
        self._models: dict[str, FakeModel] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._blobs: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        for model in models:
            self.add_model(model)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OllamaStandin:
        standin = self

        class Handler(_Handler):
            server_state = standin

        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once: wakes stalled/delayed responses and cuts open connections."""
        with self._lock:  # idempotent, even when a test thread and __exit__ both stop it
            httpd, self._httpd = self._httpd, None
            connections = list(self._connections)
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The listening port; still known after `stop` (then nothing listens there)."""
        if self._port is None:
            raise RuntimeError("the stand-in has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- models ------------------------------------------------------------------------------

    def add_model(self, model: str | FakeModel) -> FakeModel:
        record = make_model(model) if isinstance(model, str) else model
        with self._lock:
            self._models[record.name] = record
        return record

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(full_name(name), None)
            self._loaded.pop(full_name(name), None)

    def model(self, name: str) -> FakeModel | None:
        with self._lock:
            return self._models.get(full_name(name))

    @property
    def models(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def load(self, name: str, *, size: int | None = None, size_vram: int | None = None,
             context_length: int | None = None, keep_alive: float | None = None) -> None:
        """Mark a model as loaded, as /api/ps will report it (defaults follow the knobs)."""
        record = self.model(name)
        if record is None:
            raise KeyError(name)
        self._mark_loaded(record, keep_alive, context_length or DEFAULT_NUM_CTX, size=size, size_vram=size_vram,
                          context_length=context_length)

    def unload(self, name: str) -> None:
        with self._lock:
            self._loaded.pop(full_name(name), None)

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    @property
    def blobs(self) -> dict[str, int]:
        """Uploaded blobs: digest -> size in bytes."""
        with self._lock:
            return dict(self._blobs)

    # -- recorded requests -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Requests to `path` (or under it, e.g. '/api/blobs'), optionally of one method."""
        return [r for r in self.requests
                if (r.path == path or r.path.startswith(path.rstrip("/") + "/"))
                and (method is None or r.method == method.upper())]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: socket.socket, active: bool) -> None:
        with self._lock:
            (self._connections.add if active else self._connections.discard)(conn)

    # -- helpers used by the handler ---------------------------------------------------------

    def _require_model(self, body: dict[str, Any]) -> tuple[str, FakeModel]:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _ClientError(400, "model is required")
        record = self.model(name)
        if record is None:
            raise _ClientError(404, f"model '{name}' not found")
        return name, record

    def _wait(self, seconds: float) -> None:
        """Sleep, but end at once (raising _Stopped) when the server stops."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped()

    def _stall(self) -> None:
        self._stopping.wait(self.stall_timeout)
        raise _Stopped()

    def capabilities_of(self, m: FakeModel) -> list[str]:
        return selected_template(m, _version(self.version))[1]

    def _reply_text(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else str(self.reply)

    def _thinking_text(self, body: dict[str, Any]) -> str:
        return self.thinking(body) if callable(self.thinking) else str(self.thinking)

    def _mark_loaded(self, record: FakeModel, keep_alive: float | None, num_ctx: int, *,
                     size: int | None = None, size_vram: int | None = None,
                     context_length: int | None = None, num_gpu: int | None = None) -> bool:
        """Load (or refresh) a model; returns True when it was not loaded before.

        With `gpu_free` set, layers are placed like Ollama's scheduler: without num_gpu as many as fit
        after the 457 MiB CUDA reserve (the rest on the CPU, /api/ps size_vram < size); with num_gpu N
        exactly N, or the error Ollama 0.12 gives when they do not fit.
        """
        ctx = context_length or self.loaded_context_length or min(num_ctx, record.context_length)
        total = size or self.loaded_size or record.size + record.kv_bytes(ctx) + 300 * _MIB
        vram = size_vram if size_vram is not None else self.loaded_size_vram
        if vram is None and self.gpu_free is not None:
            vram = self._placed(record, total, num_gpu)
        seconds = 300.0 if keep_alive is None else keep_alive
        expires = datetime.now(timezone.utc) + (timedelta(days=292 * 365) if seconds < 0 else
                                                timedelta(seconds=seconds))
        loaded = _Loaded(record, total, total if vram is None else vram, ctx,
                         expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        with self._lock:
            fresh = record.name not in self._loaded
            self._loaded[record.name] = loaded
        return fresh


    def _placed(self, record: FakeModel, total: int, num_gpu: int | None) -> int:
        assert self.gpu_free is not None
        layers = record.block_count + 1  # the blocks and the output layer
        per_layer = total / layers
        room = max(0, self.gpu_free - CUDA_RESERVE)
        if num_gpu is not None and num_gpu >= 0:
            wanted = min(num_gpu, layers)
            if wanted * per_layer > room:
                raise _ClientError(500, f"memory layout cannot be allocated with num_gpu = {num_gpu}")
            return total if wanted == layers else int(wanted * per_layer)
        fitting = min(layers, int(room // per_layer))
        return total if fitting == layers else int(fitting * per_layer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, stop() cutting connections) are normal here; report the rest."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes one HTTP exchange to the stand-in; HTTP/1.1 with keep-alive like httpx expects."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Go (so Ollama) sets TCP_NODELAY; without it small chunks wait ~40 ms
    server_state: OllamaStandin  # set on the per-server subclass

    ROUTES: dict[str, dict[str, str]] = {
        "/": {"GET": "root", "HEAD": "root"},
        "/api/version": {"GET": "version", "HEAD": "version"},
        "/api/tags": {"GET": "tags", "HEAD": "tags"},
        "/api/ps": {"GET": "ps"},
        "/api/show": {"POST": "show"},
        "/api/chat": {"POST": "chat"},
        "/api/generate": {"POST": "generate"},
        "/api/embed": {"POST": "embed"},
        "/api/embeddings": {"POST": "embeddings"},
        "/api/pull": {"POST": "pull"},
        "/api/create": {"POST": "create"},
        "/api/copy": {"POST": "copy"},
        "/api/delete": {"DELETE": "delete"},
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the per-request stderr line; tests read `server.requests` instead."""

    def setup(self) -> None:
        super().setup()
        self.server_state._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server_state._track(self.connection, False)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- plumbing ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        state = self.server_state
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        body: Any = None
        if raw and not path.startswith("/api/blobs/"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        state._record(RecordedRequest(self.command, path, body, raw, headers, time.time()))
        if path.startswith("/api/blobs/"):
            route = {"HEAD": "blob_head", "POST": "blob_upload"}.get(self.command)
            methods: dict[str, str] | None = {"HEAD": "", "POST": ""}
        else:
            methods = self.ROUTES.get(path)
            route = methods.get(self.command) if methods else None
        if state.fail_mode in ("dribble_headers", "dribble_body"):
            try:
                return self._dribble(state.fail_mode == "dribble_headers")
            except (_Stopped, BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
        if methods is None:
            return self._send_text(404, "404 page not found")
        if route is None:
            return self._send_text(405, "405 method not allowed")
        try:
            if route in ("root", "version", "tags", "ps", "blob_head", "blob_upload"):
                getattr(self, f"_r_{route}")(path, raw)
                return
            if not raw:
                raise _ClientError(400, "missing request body")
            if not isinstance(body, dict):
                raise _ClientError(400, "invalid character in request body: not a JSON object")
            getattr(self, f"_r_{route}")(body)
        except _ClientError as exc:
            self._send_json(exc.status, {"error": exc.message})
        except _Stopped:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dribble(self, in_head: bool) -> None:
        """One byte every `dribble_interval` seconds, forever: inside the head, or inside an NDJSON line."""
        state = self.server_state
        if in_head:
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            filler = b"X-Dribble: " + b"." * 64 + b"\r\n"
        else:
            self._start_stream()
            filler = b" "
            self.wfile.write(b'1\r\n{\r\n')
        self.wfile.flush()
        while True:
            for byte in filler:
                state._wait(state.dribble_interval)
                self.wfile.write(bytes([byte]) if in_head else b"1\r\n" + bytes([byte]) + b"\r\n")
                self.wfile.flush()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream_line(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _progress(self, body: dict[str, Any], lines: Iterable[dict[str, Any]]) -> None:
        """Pull/create answer: NDJSON progress by default, only the last object when stream=false."""
        if body.get("stream") is False:
            last: dict[str, Any] = {}
            for last in lines:
                if "error" in last:
                    raise _ClientError(500, last["error"])
            self._send_json(200, last)
            return
        self._start_stream()
        for line in lines:
            self._stream_line(line)
            if "error" in line:
                break
        self._end_stream()

    # -- simple endpoints --------------------------------------------------------------------

    def _r_root(self, path: str, raw: bytes) -> None:
        self._send_text(200, "Ollama is running")

    def _r_version(self, path: str, raw: bytes) -> None:
        self._send_json(200, {"version": self.server_state.version})

    def _r_tags(self, path: str, raw: bytes) -> None:
        with self.server_state._lock:
            models = sorted(self.server_state._models.values(), key=lambda m: m.modified_at, reverse=True)
        self._send_json(200, {"models": [
            {"name": m.name, "model": m.name, "modified_at": m.modified_at, "size": m.size, "digest": m.digest,
             "details": m.details} for m in models]})

    def _r_ps(self, path: str, raw: bytes) -> None:
        with self.server_state._lock:
            loaded = sorted(self.server_state._loaded.values(), key=lambda x: x.expires_at, reverse=True)
        self._send_json(200, {"models": [
            {"name": x.model.name, "model": x.model.name, "size": x.size, "digest": x.model.digest,
             "details": x.model.details, "expires_at": x.expires_at, "size_vram": x.size_vram,
             "context_length": x.context_length} for x in loaded]})

    def _r_show(self, body: dict[str, Any]) -> None:
        _, m = self.server_state._require_model(body)
        arch = m.family if m.family in ("qwen2", "qwen3") else m.family.replace("-", "_")
        template, capabilities = selected_template(m, _version(self.server_state.version))
        parameters = "\n".join(f"{k:<30} {_go_value(v)}" for k, v in _parameter_items(m.parameters))
        answer: dict[str, Any] = {
            "license": m.license,
            "modelfile": self._modelfile(m),
            "template": template,
            "details": m.details,
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": int(float(m.parameter_size.rstrip("BM")) *
                                               (1e9 if m.parameter_size.endswith("B") else 1e6)),
                f"{arch}.block_count": m.block_count,
                f"{arch}.context_length": m.context_length,
                f"{arch}.embedding_length": m.embedding_length,
                f"{arch}.attention.head_count": m.head_count,
                f"{arch}.attention.head_count_kv": m.head_count_kv,
                **({f"{arch}.attention.key_length": m.key_length, f"{arch}.attention.value_length": m.key_length}
                   if m.key_length else {}),
                "tokenizer.ggml.model": "gpt2",
                "tokenizer.ggml.tokens": [],
            },
            "capabilities": capabilities,
            "modified_at": m.modified_at,
        }
        if parameters:
            answer["parameters"] = parameters
        if m.system:
            answer["system"] = m.system
        self._send_json(200, answer)

    @staticmethod
    def _modelfile(m: FakeModel) -> str:
        lines = ['# Modelfile generated by "ollama show"',
                 "# To build a new Modelfile based on this, replace FROM with:", f"# FROM {m.name}", "",
                 f"FROM /root/.ollama/models/blobs/sha256-{m.digest}", f"TEMPLATE {_go_quote(m.template or DEFAULT_TEMPLATE)}"]
        if m.system:
            lines.append(f"SYSTEM {_go_quote(m.system)}")
        for key, value in _parameter_items(m.parameters):
            shown = _go_value(value) if not isinstance(value, str) else value  # Go's %v
            lines.append(f"PARAMETER {key} {_go_quote(shown)}")
        for digest in m.adapters:
            lines.append(f"ADAPTER /root/.ollama/models/blobs/sha256-{digest}")
        if m.license:
            lines.append(f"LICENSE {_go_quote(m.license)}")
        for message in m.messages:
            lines.append(f"MESSAGE {message.get('role')} {_go_quote(str(message.get('content') or ''))}")
        return "\n".join(lines) + "\n"

    def _r_delete(self, body: dict[str, Any]) -> None:
        name, m = self.server_state._require_model(body)
        self.server_state.remove_model(m.name)
        self._send(200, b"", None)

    def _r_copy(self, body: dict[str, Any]) -> None:
        source = self.server_state.model(body.get("source") or "")
        if source is None:
            raise _ClientError(404, f'model "{body.get("source")}" not found')
        self.server_state.add_model(dataclasses.replace(source, name=full_name(body.get("destination") or ""),
                                                        modified_at=""))
        self._send(200, b"", None)

    # -- blobs -------------------------------------------------------------------------------

    def _r_blob_head(self, path: str, raw: bytes) -> None:
        digest = path.rsplit("/", 1)[-1]
        self._send(200 if digest in self.server_state.blobs else 404, b"", None)

    def _r_blob_upload(self, path: str, raw: bytes) -> None:
        digest = path.rsplit("/", 1)[-1]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise _ClientError(400, f"invalid digest format {digest!r}")
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            raise _ClientError(400, f'digest mismatch, expected "{digest}", got "{actual}"')
        state = self.server_state
        with state._lock:
            existed = digest in state._blobs
            state._blobs[digest] = len(raw)
        self._send(200 if existed else 201, b"", None)

    # -- pull / create -----------------------------------------------------------------------

    def _pull_lines(self, name: str) -> Iterator[dict[str, Any]]:
        state = self.server_state
        yield {"status": "pulling manifest"}
        if state.pullable is not None and full_name(name) not in {full_name(p) for p in state.pullable}:
            yield {"error": "pull model manifest: file does not exist"}
            return
        record = make_model(name)
        short = record.digest[:12]
        for done in (0, record.size // 2, record.size):
            line = {"status": f"pulling {short}", "digest": f"sha256:{record.digest}", "total": record.size}
            if done:
                line["completed"] = done
            yield line
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        state.add_model(record)
        yield {"status": "success"}

    def _r_pull(self, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _ClientError(400, "model is required")
        self._progress(body, self._pull_lines(name))

    def _r_create(self, body: dict[str, Any]) -> None:
        state = self.server_state
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _ClientError(400, "model is required")
        source, files, adapters = body.get("from"), body.get("files"), body.get("adapters")
        if not source and not files:
            raise _ClientError(400, "neither 'from' or 'files' was specified")
        if adapters is not None and not isinstance(adapters, dict):
            raise _ClientError(400, "json: cannot unmarshal adapters into map[string]string")
        if any(not d for d in (adapters or {}).values()):
            raise _ClientError(400, "invalid digest format")
        missing = [d for d in [*(files or {}).values(), *(adapters or {}).values()] if d not in state.blobs]
        if missing:
            raise _ClientError(400, f"blob {missing[0]} not found: upload it to /api/blobs first")
        self._progress(body, self._create_lines(full_name(name), source, files or {}, body))

    def _create_lines(self, name: str, source: str | None, files: dict[str, str],
                      body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        state = self.server_state
        if source:
            base = state.model(source)
            if base is None:  # Ollama pulls a missing FROM model itself
                for line in self._pull_lines(source):
                    if "error" in line:
                        yield line
                        return
                    if line["status"] != "success":
                        yield line
                base = state.model(source)
            assert base is not None
            yield {"status": "reading model metadata"}
            layers = [base.digest]
        else:  # the stand-in reads no GGUF: a file named like qwen3 stands for a Qwen3 GGUF, any other for Qwen2.5
            yield {"status": "parsing GGUF"}
            library = "qwen3:1.7b" if any("qwen3" in n.lower() for n in files) else "qwen2.5:1.5b"
            # server/model.go detectChatTemplate: the closest template/index.json entry, "chatml" for Qwen
            base = dataclasses.replace(make_model(library), name=name, template=CHATML_TEMPLATE,
                                       parameters={"stop": list(CHATML_STOPS)})
            layers = [d.split(":", 1)[1] for d in files.values()]
            yield {"status": "using autodetected template chatml"}
        adapter_layers: list[str] = []
        adapters = body.get("adapters") or {}
        if adapters:  # server/create.go: convertModelFromFiles(r.Adapters, baseLayers, true, ...)
            kinds = {"safetensors" if n.endswith(".safetensors") else "gguf" for n in adapters
                     if n.endswith((".safetensors", ".gguf"))}
            if "safetensors" in kinds:
                yield {"status": "converting adapter"}
                if base.family not in SAFETENSORS_ADAPTER_ARCHITECTURES:  # convert.ConvertAdapter
                    yield {"error": "unsupported architecture"}
                    return
                adapter_layers = ["converted-" + sorted(adapters.values())[0].split(":", 1)[1]]
            elif len(adapters) > 1:
                yield {"error": "only one adapter is currently supported"}
                return
            else:
                yield {"status": "parsing GGUF"}
                adapter_layers = [d.split(":", 1)[1] for d in adapters.values()]
        parameters = dict(base.parameters)
        parameters.update(body.get("parameters") or {})
        license = body.get("license")
        record = dataclasses.replace(
            base, name=name, digest="", modified_at="", template=body.get("template") or base.template,
            system=body.get("system") or base.system, parameters=parameters,
            adapters=base.adapters + tuple(adapter_layers),
            license="\n".join(license) if isinstance(license, list) else (license or base.license),
            messages=tuple(body.get("messages") or base.messages))
        for kind in ("template", "system", "parameters"):
            if body.get(kind):
                yield {"status": f"creating {kind} layer"}
        for layer in layers + adapter_layers:
            yield {"status": f"using existing layer sha256:{layer}"}
        yield {"status": "writing manifest"}
        state.add_model(record)
        yield {"status": "success"}

    # -- inference ---------------------------------------------------------------------------

    def _r_chat(self, body: dict[str, Any]) -> None:
        self._generate(body, chat=True)

    def _r_generate(self, body: dict[str, Any]) -> None:
        self._generate(body, chat=False)

    def _generate(self, body: dict[str, Any], chat: bool) -> None:
        state, started = self.server_state, time.perf_counter_ns()
        name, m = state._require_model(body)
        if state.fail_mode == "404":
            raise _ClientError(404, f"model '{name}' not found")
        capabilities = state.capabilities_of(m)
        if "completion" not in capabilities:
            raise _ClientError(400, f'"{name}" does not support {"chat" if chat else "generate"}')
        if body.get("think") not in (None, False) and "thinking" not in capabilities:
            raise _ClientError(400, f'"{name}" does not support thinking')
        if not chat and body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            raise _ClientError(400, "raw mode does not support template, system, or context")
        keep_alive = parse_keep_alive(body.get("keep_alive"))
        options = check_options(body.get("options"))
        num_ctx = int(options.get("num_ctx") or m.parameters.get("num_ctx") or DEFAULT_NUM_CTX)
        if not (body.get("messages") if chat else body.get("prompt")):
            return self._load_or_unload(body, m, keep_alive, num_ctx, chat)
        if state.fail_mode == "500_before_stream":
            raise _ClientError(500, state.error_message or "llama runner process has terminated: exit status 2")
        prompt_tokens = count_tokens(self._prompt_text(body, m, chat))
        if body.get("truncate") is False and prompt_tokens > num_ctx:
            raise _ClientError(400, "the input length exceeds the context length")
        fresh = state._mark_loaded(m, keep_alive, num_ctx, num_gpu=_num_gpu(options, m))
        pieces, done_reason = self._pieces(body, options, m)
        if state.fail_mode == "endless":  # the broken runner ignores num_predict
            pieces = split_pieces(state._reply_text(body))
        base = {"model": name}
        metrics = {"load_duration": 1_000_000 if fresh else 50_000, "prompt_eval_count": prompt_tokens,
                   "prompt_eval_duration": prompt_tokens * 200_000}
        if body.get("stream") is False:
            return self._answer_whole(base, pieces, done_reason, metrics, started, chat)
        self._answer_stream(base, pieces, done_reason, metrics, started, chat)

    @staticmethod
    def _prompt_text(body: dict[str, Any], m: FakeModel, chat: bool) -> str:
        if not chat:
            return (body.get("system") or m.system) + str(body.get("prompt") or "")
        messages = body.get("messages") or []
        text = "".join(str(msg.get("content") or "") for msg in messages if isinstance(msg, dict))
        has_system = any(isinstance(msg, dict) and msg.get("role") == "system" for msg in messages)
        return text if has_system else m.system + text

    def _pieces(self, body: dict[str, Any], options: dict[str, Any],
                m: FakeModel | None = None) -> tuple[list[str], str]:
        """The reply cut into pieces, honouring `stop` and `num_predict` like the runner would.

        A model with the `thinking` capability thinks first (`state.thinking`): with `think` true (or a
        level) the reasoning streams as `_Thought` pieces, sent in the separate `thinking` field; with
        `think` false there is none; with `think` absent it comes inline, as `<think>…</think>` at the
        start of the content (what a TEMPLATE without `.Think` handling produces).
        """
        text = self.server_state._reply_text(body)
        cuts = [text.find(s) for s in options.get("stop") or [] if s and s in text]
        if cuts:
            text = text[:min(cuts)]
        think = body.get("think")
        thinks = m is not None and "thinking" in self.server_state.capabilities_of(m)
        thinking = self.server_state._thinking_text(body) if thinks else ""
        if thinking and think is None:
            pieces = split_pieces(f"<think>\n{thinking}\n</think>\n\n{text}")
        elif thinking and think is not False:
            pieces = [_Thought(p) for p in split_pieces(thinking)] + split_pieces(text)
        else:
            pieces = split_pieces(text)
        reason = "stop"
        limit = options.get("num_predict")
        if isinstance(limit, (int, float)) and 0 < limit < len(pieces):
            pieces, reason = pieces[:int(limit)], "length"
        return pieces, reason

    def _chunk(self, base: dict[str, Any], text: str, chat: bool, thinking: str = "") -> dict[str, Any]:
        out = {**base, "created_at": _now()}
        if isinstance(text, _Thought):
            text, thinking = "", str(text)
        if chat:
            out["message"] = {"role": "assistant", "content": text}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = text
            if thinking:
                out["thinking"] = thinking
        out["done"] = False
        return out

    def _final(self, base: dict[str, Any], text: str, reason: str, metrics: dict[str, Any], started: int,
               eval_started: int, eval_count: int, chat: bool, thinking: str = "") -> dict[str, Any]:
        out = self._chunk(base, text, chat, thinking)
        out.update(done=True, done_reason=reason)
        if not chat:
            out["context"] = [1, 2, 3]
        now = time.perf_counter_ns()
        out.update({"total_duration": max(1, now - started), **metrics, "eval_count": eval_count,
                    "eval_duration": max(1, now - eval_started)})
        return {k: v for k, v in out.items() if k not in _METRICS or v}  # Ollama's metrics are omitempty

    def _load_or_unload(self, body: dict[str, Any], m: FakeModel, keep_alive: float | None, num_ctx: int,
                        chat: bool) -> None:
        """Empty messages/prompt: load (or with keep_alive 0, unload); one JSON object even when streaming."""
        state = self.server_state
        if keep_alive == 0:
            state.unload(m.name)
            reason = "unload"
        else:
            state._mark_loaded(m, keep_alive, num_ctx, num_gpu=_num_gpu(check_options(body.get("options")), m))
            reason = "load"
        out = self._chunk({"model": body["model"]}, "", chat)
        out.update(done_reason=reason, done=True)
        self._send_json(200, out)

    def _answer_whole(self, base: dict[str, Any], pieces: list[str], reason: str, metrics: dict[str, Any],
                      started: int, chat: bool) -> None:
        state = self.server_state
        eval_started = time.perf_counter_ns()
        state._wait(state.first_token_delay + state.token_delay * max(len(pieces) - 1, 0))
        if state.fail_mode == "error_midstream":
            raise _ClientError(500, state.error_message or "an error was encountered while running the model")
        if state.fail_mode in ("stall", "endless"):
            state._stall()
        answer = "".join(p for p in pieces if not isinstance(p, _Thought))
        thinking = "".join(p for p in pieces if isinstance(p, _Thought))
        self._send_json(200, self._final(base, answer, reason, metrics, started, eval_started, len(pieces), chat,
                                         thinking))

    def _answer_stream(self, base: dict[str, Any], pieces: list[str], reason: str, metrics: dict[str, Any],
                       started: int, chat: bool) -> None:
        state = self.server_state
        self._start_stream()
        eval_started = time.perf_counter_ns()
        state._wait(state.first_token_delay)
        if state.fail_mode == "endless":
            return self._endless(base, pieces or [" "], chat)
        strike = min(state.fail_after, len(pieces)) if state.fail_mode in ("error_midstream", "stall") else -1
        for i, piece in enumerate(pieces + [None]):
            if i == strike and state.fail_mode == "stall":
                state._stall()
            if i == strike:
                self._stream_line({"error": state.error_message or "an error was encountered while running the model"})
                return self._end_stream()
            if piece is None:
                break
            if i:
                state._wait(state.token_delay)
            self._stream_line(self._chunk(base, piece, chat))
        self._stream_line(self._final(base, "", reason, metrics, started, eval_started, len(pieces), chat))
        self._end_stream()

    def _endless(self, base: dict[str, Any], pieces: list[str], chat: bool) -> None:
        """A stream that never ends: the pieces again and again, `done` never sent, num_predict ignored."""
        state = self.server_state
        i = 0
        while True:
            if i:
                state._wait(state.token_delay)
            self._stream_line(self._chunk(base, pieces[i % len(pieces)], chat))
            i += 1
            if not state.token_delay and i % 256 == 0 and state._stopping.is_set():
                raise _Stopped()

    # -- embeddings --------------------------------------------------------------------------

    def _embed_failures(self, name: str) -> None:
        state = self.server_state
        if state.fail_mode == "404":
            raise _ClientError(404, f"model '{name}' not found")
        if state.fail_mode in ("500_before_stream", "error_midstream"):
            raise _ClientError(500, state.error_message or "llama runner process has terminated: exit status 2")
        if state.fail_mode in ("stall", "endless"):
            state._stall()

    def _r_embed(self, body: dict[str, Any]) -> None:
        state, started = self.server_state, time.perf_counter_ns()
        name, m = state._require_model(body)
        self._embed_failures(name)
        options = check_options(body.get("options"))
        keep_alive = parse_keep_alive(body.get("keep_alive"))
        raw_input = body.get("input")
        texts = [raw_input] if isinstance(raw_input, str) and raw_input else raw_input or []
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _ClientError(400, "invalid input type")
        num_ctx = int(options.get("num_ctx") or m.parameters.get("num_ctx") or min(DEFAULT_NUM_CTX, m.context_length))
        if body.get("truncate") is False and any(count_tokens(t) > num_ctx for t in texts):
            raise _ClientError(400, "the input length exceeds the context length")
        if not texts:
            return self._send_json(200, {"model": name, "embeddings": []})
        fresh = state._mark_loaded(m, keep_alive, num_ctx)
        dim = int(body.get("dimensions") or state.embed_dim or m.embedding_length)
        self._send_json(200, {
            "model": name, "embeddings": [fake_embedding(t, dim) for t in texts],
            "total_duration": max(1, time.perf_counter_ns() - started),
            "load_duration": 1_000_000 if fresh else 50_000,
            "prompt_eval_count": sum(count_tokens(t) for t in texts)})

    def _r_embeddings(self, body: dict[str, Any]) -> None:
        """Legacy endpoint: one prompt, `{"embedding": [...]}`, not normalised."""
        state = self.server_state
        name = body.get("model") or ""
        if state.model(name) is None:
            raise _ClientError(404, f'model "{name}" not found, try pulling it first')
        self._embed_failures(name)
        prompt = body.get("prompt") or ""
        m = state.model(name)
        assert m is not None
        dim = int(state.embed_dim or m.embedding_length)
        vector = [3.0 * v for v in fake_embedding(prompt, dim)] if prompt else []
        self._send_json(200, {"embedding": vector})
