"""Will this model fit on this card? A memory estimate before anything is downloaded.

The terms are those of Ollama's own estimator (llm/memory.go `estimateGPULayers` and fs/ggml
`GraphSize`, the qwen2 case), so the verdict agrees with what Ollama will do at load time:

    full offload = CUDA reserve (457 MiB, ml.DeviceInfo.MinimumMemory)
                 + one layer's buffer (blk.0 weights + its KV cache)
                 + weights (the GGUF file: every block and the output layer)
                 + KV cache: block_count x num_ctx x (key_length + value_length) x head_count_kv x 2 bytes (f16)
                 + compute graph: max(4·batch·(embedding + vocab), 4·batch·(1 + 2·embedding + ctx + ctx·heads))

The graph's first term is the logits buffer, which Qwen's 151,936-token vocabulary makes ~300 MiB at
num_batch 512; the second is the attention scores without flash attention (Ollama 0.12's default),
which wins at long contexts. A model whose full offload does not fit still runs when at least one
layer fits next to the reserve and the partial-offload graph (memory.go's test): it "splits", with
the rest in system RAM, and answers several times slower.

Architectures come from Ollama (/api/show model_info, /api/tags size) when the model is installed,
else from `KNOWN`, the models' published configs.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.errors import ConfigError, KBError

log = logging.getLogger(__name__)

__all__ = ["Architecture", "FitReport", "FitResult", "GpuMemory", "KNOWN", "MemoryEstimate", "check", "estimate",
           "choose", "fit", "fit_for", "from_model_info", "gpu_layers", "gpu_memory", "largest_context", "nvidia_smi",
           "ram_available"]

MIB = 1024 ** 2
GIB = 1024 ** 3
CUDA_RESERVE = 457 * MIB  # ml.DeviceInfo.MinimumMemory() for CUDA (Metal: 512 MiB)
F16 = 2                   # bytes per KV cache element with Ollama's default cache type
QWEN_VOCAB = 151_936
DEFAULT_BATCH = 512
FITS, SPLITS, TOO_BIG = "fits", "splits", "too_big"


@dataclass(frozen=True)
class Architecture:
    """What the estimate needs about a model; `size` is the GGUF file in bytes (Ollama's /api/tags size)."""

    name: str
    family: str
    size: int
    block_count: int
    embedding_length: int
    head_count: int
    head_count_kv: int
    key_length: int
    value_length: int
    context_length: int
    vocab_size: int = QWEN_VOCAB
    thinking: bool = False
    source: str = ""


_HF = "https://huggingface.co/Qwen/{}/blob/main/config.json"
# Published configs (num_hidden_layers, hidden_size, num_attention_heads, num_key_value_heads, head_dim,
# vocab_size, max_position_embeddings; Ollama's context_length for qwen3 is 40960) and the Q4_K_M file
# sizes ollama.com/library lists for each tag (as /api/tags reports them, in bytes).
KNOWN: dict[str, Architecture] = {a.name: a for a in (
    Architecture("qwen2.5:0.5b", "qwen2", 397_821_319, 24, 896, 14, 2, 64, 64, 32_768,
                 source=_HF.format("Qwen2.5-0.5B-Instruct")),
    Architecture("qwen2.5:1.5b", "qwen2", 986_061_892, 28, 1536, 12, 2, 128, 128, 32_768,
                 source=_HF.format("Qwen2.5-1.5B-Instruct")),
    Architecture("qwen2.5:3b", "qwen2", 1_929_912_432, 36, 2048, 16, 2, 128, 128, 32_768,
                 source=_HF.format("Qwen2.5-3B-Instruct")),
    Architecture("qwen3:0.6b", "qwen3", 522_653_767, 28, 1024, 16, 8, 128, 128, 40_960, thinking=True,
                 source=_HF.format("Qwen3-0.6B")),
    Architecture("qwen3:1.7b", "qwen3", 1_359_293_444, 28, 2048, 16, 8, 128, 128, 40_960, thinking=True,
                 source=_HF.format("Qwen3-1.7B")),
    Architecture("qwen3:4b", "qwen3", 2_497_293_918, 36, 2560, 32, 8, 128, 128, 40_960, thinking=True,
                 source=_HF.format("Qwen3-4B")),
)}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs at `num_ctx` with every layer on the GPU, term by term."""

    num_ctx: int
    weights: int
    kv_cache: int
    graph: int
    layer_buffer: int
    reserve: int = CUDA_RESERVE

    @property
    def total(self) -> int:
        return self.reserve + self.layer_buffer + self.weights + self.kv_cache + self.graph

    def as_dict(self) -> dict[str, Any]:
        return {"num_ctx": self.num_ctx, "weights": self.weights, "kv_cache": self.kv_cache, "graph": self.graph,
                "layer_buffer": self.layer_buffer, "reserve": self.reserve, "total": self.total,
                "total_gib": round(self.total / GIB, 2)}


@dataclass(frozen=True)
class GpuMemory:
    """Free (and total) GPU memory in bytes; `source` is "nvidia-smi" or "--vram"."""

    free: int
    total: int | None
    source: str
    name: str = ""


@dataclass(frozen=True)
class FitResult:
    """The answer for one model: `verdict` is fits | splits | too_big; `max_context` is the largest
    num_ctx (a multiple of 256, up to the trained context) that still fits wholly on the GPU, or None."""

    model: str
    arch: Architecture
    estimate: MemoryEstimate
    gpu: GpuMemory
    verdict: str
    gpu_layers: int
    layers: int
    max_context: int | None
    installed: bool = False
    assumptions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "verdict": self.verdict, "num_ctx": self.estimate.num_ctx,
                "needed_gib": round(self.estimate.total / GIB, 2), "free_gib": round(self.gpu.free / GIB, 2),
                "gpu_source": self.gpu.source, "gpu_layers": self.gpu_layers, "layers": self.layers,
                "max_context": self.max_context, "installed": self.installed, "thinking": self.arch.thinking,
                "file_size": self.arch.size, "estimate": self.estimate.as_dict(), "source": self.arch.source,
                "assumptions": list(self.assumptions)}


# -- the estimate ---------------------------------------------------------------------------------------


def kv_per_layer(arch: Architecture, num_ctx: int, parallel: int = 1) -> int:
    return num_ctx * parallel * (arch.key_length + arch.value_length) * arch.head_count_kv * F16


def _graph(arch: Architecture, num_ctx: int, num_batch: int, partial: bool) -> int:
    """fs/ggml GraphSize, the qwen2 case (qwen3 uses the same shapes): full or partial offload."""
    batch, emb, ctx, heads, vocab = min(num_ctx, num_batch), arch.embedding_length, num_ctx, arch.head_count, \
        arch.vocab_size
    if partial:
        return max(4 * batch * (emb + vocab) + emb * vocab * 105 // 128,
                   4 * (batch * (1 + 2 * emb + ctx * (1 + heads)) + emb * (1 + ctx)))
    return max(4 * batch * (emb + vocab), 4 * batch * (1 + 2 * emb + ctx + ctx * heads))


def estimate(arch: Architecture, num_ctx: int, *, num_batch: int = DEFAULT_BATCH, parallel: int = 1) -> MemoryEstimate:
    """Memory for `arch` at `num_ctx` with every layer on the GPU (see the module docstring for the terms)."""
    kv_layer = kv_per_layer(arch, num_ctx, parallel)
    block = arch.size // (arch.block_count + 1)  # blk.0's weights: the file shared by the blocks and the output
    return MemoryEstimate(num_ctx=num_ctx, weights=arch.size, kv_cache=kv_layer * arch.block_count,
                          graph=_graph(arch, num_ctx * parallel, num_batch, partial=False),
                          layer_buffer=block + kv_layer)


def gpu_layers(arch: Architecture, num_ctx: int, free: int, *, num_batch: int = DEFAULT_BATCH) -> int:
    """How many of the block_count + 1 layers Ollama would put on a GPU with `free` bytes."""
    full = estimate(arch, num_ctx, num_batch=num_batch)
    if full.total <= free:
        return arch.block_count + 1
    layer = full.layer_buffer
    graph = max(_graph(arch, num_ctx, num_batch, partial=True), full.graph)
    room = free - CUDA_RESERVE - graph - layer  # memory.go keeps one layer's buffer besides the layers
    if room < layer:
        return 0
    return min(arch.block_count, room // layer)


def largest_context(arch: Architecture, free: int, *, num_batch: int = DEFAULT_BATCH) -> int | None:
    """The largest num_ctx (a multiple of 256, at most the trained context) that fits wholly on the GPU."""
    low, high = 0, arch.context_length // 256
    while low < high:
        mid = (low + high + 1) // 2
        if estimate(arch, mid * 256, num_batch=num_batch).total <= free:
            low = mid
        else:
            high = mid - 1
    return low * 256 or None


def check(arch: Architecture, num_ctx: int, gpu: GpuMemory, *, ram_free: int | None = None,
          installed: bool = False, assumptions: tuple[str, ...] = ()) -> FitResult:
    """The verdict for `arch` at `num_ctx` on `gpu`: fits, splits (some layers in system RAM) or too big."""
    full = estimate(arch, num_ctx)
    layers = arch.block_count + 1
    on_gpu = gpu_layers(arch, num_ctx, gpu.free)
    if on_gpu == layers:
        verdict = FITS
    else:
        cpu_part = full.total - CUDA_RESERVE - on_gpu * full.layer_buffer
        verdict = SPLITS if on_gpu and (ram_free is None or cpu_part <= ram_free) else TOO_BIG
        if not on_gpu and ram_free is not None and full.total - CUDA_RESERVE <= ram_free:
            verdict = SPLITS  # no layer on the GPU, but it runs on the CPU (slowly)
    return FitResult(arch.name, arch, full, gpu, verdict, on_gpu, layers, largest_context(arch, gpu.free),
                     installed, assumptions)


# -- what the machine has -------------------------------------------------------------------------------


def nvidia_smi() -> GpuMemory | None:
    """The first GPU's free and total memory from `nvidia-smi`, or None when it is not installed."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "--query-gpu=memory.free,memory.total,name", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=10, check=True)
        free, total, name = (part.strip() for part in done.stdout.splitlines()[0].split(",", 2))
        return GpuMemory(int(float(free) * MIB), int(float(total) * MIB), "nvidia-smi", name)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        raise KBError("fit.nvidia_smi_failed", error=str(exc)[:200]) from exc


def gpu_memory(vram_gib: float | None = None) -> GpuMemory:
    """`--vram` when given (free GiB), else nvidia-smi; ConfigError saying to give --vram when neither."""
    if vram_gib is not None:
        return GpuMemory(int(vram_gib * GIB), None, "--vram")
    found = nvidia_smi()
    if found is None:
        raise ConfigError("fit.no_gpu_memory")
    return found


def ram_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """MemAvailable in bytes (Linux), or None where it cannot be read."""
    try:
        for line in meminfo.read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# -- architectures from Ollama ------------------------------------------------------------------------------


def from_model_info(name: str, info: dict[str, Any], size: int, *,
                    capabilities: tuple[str, ...] = ()) -> tuple[Architecture, tuple[str, ...]]:
    """An Architecture from /api/show model_info (and the /api/tags size), with what had to be assumed.

    key_length/value_length default to embedding_length / head_count, as Ollama's EmbeddingHeadCountK
    does; the vocabulary is not in a non-verbose /api/show, so the table's (or Qwen's) is used.
    """
    arch = info.get("general.architecture")
    if not isinstance(arch, str):
        raise KBError("fit.model_info_incomplete", model=name, missing="general.architecture")

    def number(key: str) -> int | None:
        value = info.get(f"{arch}.{key}")
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    missing = [k for k in ("block_count", "embedding_length", "attention.head_count") if not number(k)]
    if missing:
        raise KBError("fit.model_info_incomplete", model=name, missing=", ".join(f"{arch}.{k}" for k in missing))
    heads = number("attention.head_count") or 1
    head_dim = (number("embedding_length") or 0) // heads
    assumptions: list[str] = []
    known = KNOWN.get(name)
    vocab = number("vocab_size") or _token_count(info)
    if not vocab:
        vocab = known.vocab_size if known else QWEN_VOCAB
        assumptions.append(f"vocab_size {vocab}")
    found = Architecture(
        name=name, family=arch, size=size, block_count=number("block_count") or 0,
        embedding_length=number("embedding_length") or 0, head_count=heads,
        head_count_kv=number("attention.head_count_kv") or heads,
        key_length=number("attention.key_length") or head_dim,
        value_length=number("attention.value_length") or head_dim,
        context_length=number("context_length") or 4096, vocab_size=vocab, thinking="thinking" in capabilities,
        source="ollama /api/show")
    return found, tuple(assumptions)


def _token_count(info: dict[str, Any]) -> int | None:
    tokens = info.get("tokenizer.ggml.tokens")
    return len(tokens) if isinstance(tokens, list) and len(tokens) > 5 else None


@dataclass(frozen=True)
class FitReport:
    """Every candidate's verdict on one GPU; `ollama_error` is why installed models are missing, if they are."""

    gpu: GpuMemory
    results: tuple[FitResult, ...]
    ollama_error: str | None = None
    ollama_error_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"gpu": {"free": self.gpu.free, "total": self.gpu.total, "source": self.gpu.source,
                        "name": self.gpu.name, "free_gib": round(self.gpu.free / GIB, 2)},
                "results": [r.as_dict() for r in self.results], "ollama_error": self.ollama_error}


def _installed(admin: Any) -> dict[str, tuple[Architecture, tuple[str, ...]]]:
    """Architectures of the models Ollama has, read from /api/tags (file size) and /api/show (model_info)."""
    found: dict[str, tuple[Architecture, tuple[str, ...]]] = {}
    for name, size in admin.sizes().items():
        details = admin.show(name)
        if "embedding" in details.capabilities:
            continue  # not an answer model
        try:
            found[name] = from_model_info(name, details.model_info, size, capabilities=details.capabilities)
        except KBError as exc:
            log.info("fit_skipped model=%s reason=%s", name, exc)
    return found


def fit(admin: Any | None, names: list[str] | None = None, *, num_ctx: int = 4096, vram_gib: float | None = None,
        gpu: GpuMemory | None = None) -> FitReport:
    """Verdicts for `names` (default: the KNOWN candidates plus every model Ollama lists) on this GPU.

    `admin` is an OllamaAdmin, or None to use the table only. Ollama being down is not an error: the
    table still answers, and `ollama_error` says why installed models are missing.
    """
    gpu = gpu or gpu_memory(vram_gib)
    ram = ram_available()
    installed: dict[str, tuple[Architecture, tuple[str, ...]]] = {}
    error = code = None
    if admin is not None:
        try:
            installed = _installed(admin)
        except KBError as exc:
            error, code = str(exc), exc.code
            log.info("fit_without_ollama reason=%s", exc)
    wanted = names if names is not None else list(dict.fromkeys([*KNOWN, *installed]))
    results = []
    for name in wanted:
        key = _tagged(name)
        if key in installed:
            arch, assumed = installed[key]
            results.append(check(arch, num_ctx, gpu, ram_free=ram, installed=True, assumptions=assumed))
        elif key in KNOWN:
            results.append(check(KNOWN[key], num_ctx, gpu, ram_free=ram))
        else:
            raise KBError("fit.unknown_model", model=name, known=", ".join(KNOWN))
    return FitReport(gpu, tuple(results), error, code)


def _tagged(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"





def fit_for(settings: Any, names: list[str] | None = None, *, num_ctx: int | None = None,
            vram_gib: float | None = None) -> FitReport:
    """The fit check for a page or the CLI: Ollama at [ollama] url (if it answers), num_ctx from [chat].

    Needs no KnowledgeBase: a user can run it before creating anything. Raises ConfigError only when
    the GPU's memory is unknown (no nvidia-smi and no `vram_gib`) or a name is unknown.
    """
    from kb.factory import build_ollama_admin

    gpu = gpu_memory(vram_gib or settings.ollama.vram_gib or None)
    with build_ollama_admin(settings, timeout=5.0) as admin:
        return fit(admin, names, num_ctx=num_ctx or settings.chat.num_ctx, gpu=gpu)


@dataclass(frozen=True)
class MemoryHint:
    """What to change when Ollama runs out of GPU memory, from the fit estimate of this card:
    `num_ctx` the largest context at which the model in use fits wholly on the GPU (None: not even a
    small one), `model` the largest candidate smaller than it that fits at the current context."""

    num_ctx: int | None
    model: str | None
    free_gib: float


def memory_hint(settings: Any, num_ctx: int) -> MemoryHint | None:
    """The concrete hint for an out-of-memory or memory-layout error, or None when the card's memory
    is unknown (no nvidia-smi, no [ollama] vram_gib) or Ollama cannot describe the model.

    Asked only after such an error (it costs a few /api/show calls). The numbers are the fit check's
    (`fit`), so the hint and the Overview page's fit widget never disagree.
    """
    from kb.factory import build_ollama_admin

    vram = settings.ollama.vram_gib or None
    try:
        gpu = gpu_memory(vram)
        with build_ollama_admin(settings, timeout=5.0) as admin:
            report = fit(admin, None, num_ctx=num_ctx, gpu=gpu)
    except KBError as exc:
        log.info("memory_hint_unavailable reason=%s", exc)
        return None
    if report.ollama_error:
        return None
    current = next((r for r in report.results if r.model == _tagged(settings.ollama.model)), None)
    if current is None:
        return None
    useful = 2 * settings.chat.answer_reserve  # below this a context holds the answer and little else
    ctx = current.max_context if current.max_context and current.max_context < num_ctx else None
    if current.max_context is not None and ctx is None:
        ctx = (num_ctx // 2) // 256 * 256  # the estimate says it fits: the card is busier than it says
    if ctx is not None and ctx < useful:
        ctx = None
    smaller = [r for r in report.results if r.verdict == "fits" and r.arch.size < current.arch.size]
    best = max(smaller, key=lambda r: r.arch.size, default=None)
    if ctx is None and best is None:
        return None
    return MemoryHint(ctx, best.model if best else None, round(gpu.free / GIB, 2))


def choose(settings: Any, name: str, progress: Any = None, *, num_gpu: int | None = None) -> str:
    """Use `name` as the answer model: write it as the Modelfile's FROM, then create [ollama] model from it.

    Returns the FROM it replaced. What the Overview page's "use this model" button and
    `python -m kb model setup --from NAME` both do.
    """
    from kb.factory import build_ollama_admin
    from kb.llm.modelfile import write_from

    old = write_from(settings.ollama.modelfile, name)
    with build_ollama_admin(settings, timeout=settings.ollama.timeout) as admin:
        admin.setup_model(settings.ollama.model, settings.ollama.modelfile, progress,
                          num_gpu=settings.ollama.num_gpu if num_gpu is None else num_gpu)
    return old
