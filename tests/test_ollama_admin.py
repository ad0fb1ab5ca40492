"""kb.llm.ollama against the stand-in, through the real `ollama` client over real HTTP."""
from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import ollama
import pytest

from kb.errors import (ConfigError, GenerationError, ModelMissing, OllamaError, OllamaTimeout,
                       OllamaUnavailable)
from kb.llm.modelfile import ModelfileSpec, parse_modelfile
from kb.llm.ollama import OllamaAdmin, RunningModel, SetupProgress, ollama_errors, parse_show_parameters
from tests.ollama_fixtures import ollama_down_url, ollama_standin  # noqa: F401 - fixtures
from tests.ollama_standin import QWEN25_TEMPLATE, OllamaStandin

REPO = Path(__file__).resolve().parent.parent
MODELFILE = REPO / "Modelfile"


@pytest.fixture
def admin(ollama_standin):
    with OllamaAdmin(ollama_standin.url, timeout=5) as client:
        yield client


# -- Modelfile ----------------------------------------------------------------------------------------


def test_the_repo_modelfile_parses():
    spec = parse_modelfile(MODELFILE.read_text(encoding="utf-8"))

    assert spec.from_ == "qwen2.5:1.5b"
    assert spec.parameters["stop"] == ["<|im_start|>", "<|im_end|>"]
    assert spec.parameters["num_ctx"] == 4096 and type(spec.parameters["num_ctx"]) is int
    assert "num_gpu" not in spec.parameters  # Ollama places the layers by free memory unless the user asks
    assert isinstance(spec.parameters["temperature"], float) and spec.parameters["temperature"] <= 0.3
    assert spec.template is None  # the base model's own template (tools; qwen3 also thinking) stays
    assert "知识库中没有找到相关内容" in spec.system and "[n]" in spec.system


def test_parse_modelfile_follows_ollamas_syntax():
    spec = parse_modelfile(
        '# a comment\n'
        '  from ./model.gguf\n'
        'system "one line"\n'
        'TEMPLATE """{{ .System }}\n'
        '# not a comment inside a block\n'
        '{{ .Prompt }}"""\n'
        'PARAMETER stop <|im_end|>\n'
        'PARAMETER stop "<|im_start|>"\n'
        'PARAMETER temperature 0.2\n'
        'PARAMETER use_mmap false\n'
        'PARAMETER mirostat 1\n'
        'LICENSE """MIT"""\n')
    assert spec == ModelfileSpec(
        from_="./model.gguf", template="{{ .System }}\n# not a comment inside a block\n{{ .Prompt }}",
        system="one line",
        parameters={"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.2, "use_mmap": False},
        license=("MIT",), from_all=("./model.gguf",))


@pytest.mark.parametrize("text,problem", [
    ("FROM x\nPARAMETER num_ctx 4096 # big\n", "line 2: PARAMETER num_ctx must be an integer"),
    ("FROM x\n\nPARAMETER num_gpus 1\n", "line 3: unknown parameter 'num_gpus'"),
    ("FROM x\nQUANTIZE q4\n", "line 2: unknown instruction 'QUANTIZE'"),
    ("FROM x\nSYSTEM \"\"\"never\nclosed\n", "line 2: SYSTEM value has an unterminated quote"),
    ("FROM x\nFROM y\n", "line 2: second FROM"),
    ("FROM\n", "line 1: FROM needs a value"),
])
def test_parse_modelfile_errors_name_the_line(text, problem):
    with pytest.raises(ConfigError, match="Modelfile " + problem.replace("(", r"\(")):
        parse_modelfile(text)


def test_parse_modelfile_needs_from():
    with pytest.raises(ConfigError, match="no FROM line"):
        parse_modelfile("SYSTEM hi\n")


def test_parse_show_parameters():
    text = "\n".join([f'{"num_ctx":<30} 4096', f'{"stop":<30} "<|im_start|>"', f'{"stop":<30} "<|im_end|>"',
                      f'{"temperature":<30} 0.1', f'{"use_mmap":<30} false'])
    assert parse_show_parameters(text) == {"num_ctx": 4096, "stop": ["<|im_start|>", "<|im_end|>"],
                                           "temperature": 0.1, "use_mmap": False}


# -- status -------------------------------------------------------------------------------------------


def test_status_when_ollama_is_up(admin, ollama_standin):
    status = admin.status("kb-qwen")

    assert status.reachable and status.version == "0.12.6" and status.error is None
    assert status.url == ollama_standin.url
    assert set(status.models) == {"kb-qwen:latest", "qwen2.5:1.5b"}
    assert status.model == "kb-qwen" and status.model_present
    assert status.running is None
    assert status.details.num_ctx == 4096 and status.details.context_length == 32768
    assert status.details.block_count == 28 and status.details.architecture == "qwen2"
    assert status.details.system == ollama_standin.model("kb-qwen").system


def test_status_shows_the_loaded_model(admin, ollama_standin):
    ollama_standin.load("kb-qwen", size=1_900_000_000, size_vram=1_900_000_000, context_length=4096)
    running = admin.status("kb-qwen").running
    assert running.name == "kb-qwen:latest" and running.placement == "100% GPU" and running.gpu_fraction == 1.0
    assert running.context_length == 4096 and running.expires_at


def test_status_when_the_model_is_missing(admin):
    status = admin.status("qwen-small")
    assert status.reachable and not status.model_present and status.details is None
    assert status.error == "Model 'qwen-small' is not in Ollama: run `python -m kb model setup`"


def test_status_when_nothing_listens(ollama_down_url):
    status = OllamaAdmin(ollama_down_url, timeout=2).status("kb-qwen")
    assert not status.reachable and status.version is None and status.models == ()
    assert status.error == (f"Ollama is not reachable at {ollama_down_url}: start it with `ollama serve` "
                            "(or install it from ollama.com)")


def test_every_call_translates_connection_refused(ollama_down_url):
    admin = OllamaAdmin(ollama_down_url, timeout=2)
    for call in (admin.version, admin.models, admin.running, lambda: admin.show("kb-qwen"),
                 lambda: admin.has_model("kb-qwen")):
        with pytest.raises(OllamaUnavailable, match="ollama serve"):
            call()


@pytest.mark.timeout(20)
def test_a_silent_server_times_out():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        admin = OllamaAdmin(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        assert admin.url.startswith("http://")
        with pytest.raises(OllamaTimeout, match="did not answer within 0.3 s"):
            admin.version()
        with pytest.raises(OllamaTimeout):
            admin.models()
        assert not admin.status("kb-qwen").reachable


# -- models -------------------------------------------------------------------------------------------


def test_has_model_accepts_a_missing_latest_tag(admin):
    assert set(admin.models()) == {"kb-qwen:latest", "qwen2.5:1.5b"}
    assert admin.has_model("kb-qwen") and admin.has_model("kb-qwen:latest")
    assert admin.has_model("qwen2.5:1.5b")
    assert not admin.has_model("qwen2.5")  # means qwen2.5:latest
    assert not admin.has_model("kb-qwen:7b")


@pytest.mark.parametrize("size,size_vram,placement,fraction", [
    (1000, 1000, "100% GPU", 1.0),
    (1000, 0, "100% CPU", 0.0),
    (1000, 1200, "Unknown", None),
    (1000, 650, "35%/65% CPU/GPU", 0.65),
])
def test_placement_matches_the_ollama_cli(size, size_vram, placement, fraction):
    model = RunningModel("m", size, size_vram, 4096, None)
    assert model.placement == placement
    assert model.gpu_fraction == fraction


def test_placement_rounds_half_up_like_go():
    assert RunningModel("m", 200, 99, None, None).placement == "51%/49% CPU/GPU"  # 50.5 -> 51


def test_running_reads_ps(admin, ollama_standin):
    ollama_standin.load("qwen2.5:1.5b", size=3_000_000_000, size_vram=1_050_000_000, context_length=8192)
    assert admin.running("kb-qwen") == []
    [model] = admin.running("qwen2.5:1.5b")
    assert model.placement == "65%/35% CPU/GPU"
    assert [m.name for m in admin.running()] == ["qwen2.5:1.5b"]


def test_context_length_prefers_the_loaded_runner(admin, ollama_standin):
    assert admin.context_length("kb-qwen") == 4096  # Modelfile num_ctx, from /api/show
    assert admin.context_length("qwen2.5:1.5b") is None  # no num_ctx parameter: the server default applies
    ollama_standin.load("kb-qwen", context_length=8192)
    assert admin.context_length("kb-qwen") == 8192  # from /api/ps
    assert ollama_standin.calls("/api/ps")


def test_show_of_a_missing_model_says_how_to_fix_it(admin):
    with pytest.raises(ModelMissing) as err:
        admin.show("kb-qwen2")
    assert str(err.value) == "Model 'kb-qwen2' is not in Ollama: run `python -m kb model setup`"


def test_show_reads_template_system_and_parameters(admin):
    details = admin.show("kb-qwen")
    assert details.parameters["stop"] == ["<|im_start|>", "<|im_end|>"]
    assert details.parameters["temperature"] == 0.1
    assert "<|im_start|>" in details.template
    assert details.capabilities == ("completion", "tools")  # qwen2.5's own template: .Tools, no .Suffix


# -- setup_model --------------------------------------------------------------------------------------


def test_setup_from_a_library_model_pulls_then_creates(tmp_path):
    spec = parse_modelfile(MODELFILE.read_text(encoding="utf-8"))
    events: list[SetupProgress] = []
    with OllamaStandin(models=()) as server:
        admin = OllamaAdmin(server.url, timeout=5)
        admin.setup_model("kb-qwen", MODELFILE, progress=events.append)

        posts = [r for r in server.requests if r.method == "POST"]
        assert [r.path for r in posts] == ["/api/pull", "/api/create"]
        pull, create = posts
        assert pull.body == {"model": "qwen2.5:1.5b", "insecure": False, "stream": True}
        assert create.body == {"model": "kb-qwen", "stream": True, "from": "qwen2.5:1.5b",
                               "system": spec.system, "parameters": spec.parameters}
        assert create.body["parameters"]["num_ctx"] == 4096
        assert create.body["parameters"]["stop"] == ["<|im_start|>", "<|im_end|>"]
        assert not server.calls("/api/blobs")

        assert admin.has_model("kb-qwen")
        details = admin.show("kb-qwen")
        assert details.num_ctx == 4096 and details.system == spec.system and details.template == QWEN25_TEMPLATE

    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(e.total and e.completed == e.total and e.fraction == 1.0 for e in events)
    assert "writing manifest" in statuses


def test_setup_skips_the_pull_when_the_base_is_installed(admin, ollama_standin):
    admin.setup_model("kb-qwen", MODELFILE)
    assert not ollama_standin.calls("/api/pull")
    assert len(ollama_standin.calls("/api/create")) == 1


def test_setup_from_a_local_gguf_uploads_a_blob(tmp_path):
    weights = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 64
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.gguf").write_bytes(weights)
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text('FROM ./models/tiny.gguf\nTEMPLATE """{{ .Prompt }}"""\nPARAMETER num_ctx 2048\n'
                         'PARAMETER stop "<|im_end|>"\n', encoding="utf-8")
    digest = "sha256:" + hashlib.sha256(weights).hexdigest()
    events: list[SetupProgress] = []
    with OllamaStandin(models=(), version="0.33.0") as server:  # uses the GGUF's chat template: one create
        admin = OllamaAdmin(server.url, timeout=5)
        admin.setup_model("tiny", modelfile, progress=events.append)

        assert [(r.method, r.path) for r in server.calls("/api/blobs")] == [
            ("HEAD", f"/api/blobs/{digest}"), ("POST", f"/api/blobs/{digest}")]
        upload = server.calls("/api/blobs", method="POST")[0]
        assert upload.raw == weights
        assert server.blobs == {digest: len(weights)}
        [create] = server.calls("/api/create")
        assert create.body == {"model": "tiny", "stream": True, "files": {"tiny.gguf": digest},
                               "template": "{{ .Prompt }}", "parameters": {"num_ctx": 2048, "stop": ["<|im_end|>"]}}
        assert not server.calls("/api/pull")
        assert admin.show("tiny").num_ctx == 2048

        server.clear_requests()
        admin.setup_model("tiny", modelfile)  # the blob is already there: no second upload
        assert [r.method for r in server.calls("/api/blobs")] == ["HEAD"]

    statuses = [e.status for e in events]
    assert statuses[:3] == ["hashing tiny.gguf", "uploading tiny.gguf", "uploaded tiny.gguf"]
    assert statuses[-1] == "success" and "parsing GGUF" in statuses


def test_setup_with_a_missing_local_file(admin, tmp_path):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./nowhere.gguf\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no such file"):
        admin.setup_model("x", modelfile)


def test_setup_with_a_missing_modelfile(admin, tmp_path):
    with pytest.raises(ConfigError, match="Modelfile not found"):
        admin.setup_model("x", tmp_path / "Modelfile")


def test_setup_reports_a_failed_pull_with_a_hint(ollama_standin):
    ollama_standin.remove_model("qwen2.5:1.5b")
    ollama_standin.pullable = set()
    with pytest.raises(OllamaError) as err:
        OllamaAdmin(ollama_standin.url, timeout=5).setup_model("kb-qwen", MODELFILE)
    assert not isinstance(err.value, GenerationError)
    assert "pull model manifest: file does not exist" in str(err.value)
    assert "ollama.com/library" in str(err.value)
    assert not ollama_standin.calls("/api/create")


def test_setup_when_ollama_is_down(ollama_down_url):
    with pytest.raises(OllamaUnavailable):
        OllamaAdmin(ollama_down_url, timeout=2).setup_model("kb-qwen", MODELFILE)


# -- the shared translator, as chat code would use it -------------------------------------------------


def test_ollama_errors_translates_chat_failures(ollama_standin):
    client = ollama.Client(host=ollama_standin.url)
    messages = [{"role": "user", "content": "hi"}]
    ollama_standin.fail_mode = "error_midstream"
    ollama_standin.error_message = "CUDA error: out of memory"
    with pytest.raises(GenerationError) as err:
        with ollama_errors(ollama_standin.url, "/api/chat", model="kb-qwen"):
            list(client.chat("kb-qwen", messages=messages, stream=True))
    assert err.value.code == "ollama.out_of_memory" and err.value.params["error"] == "CUDA error: out of memory"
    assert "num_ctx" in err.value.message("en") and "smaller model" in err.value.message("en")
    assert "显存" in err.value.message("zh")
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = "llama runner process has terminated"
    with pytest.raises(OllamaError, match="HTTP 500 while answering /api/chat: llama runner process has terminated"):
        with ollama_errors(ollama_standin.url, "/api/chat", model="kb-qwen"):
            client.chat("kb-qwen", messages=messages)
    ollama_standin.fail_mode = "404"
    with pytest.raises(ModelMissing):
        with ollama_errors(ollama_standin.url, "/api/chat", model="kb-qwen"):
            client.chat("kb-qwen", messages=messages)


@pytest.mark.parametrize("error,code", [
    ("memory layout cannot be allocated with num_gpu = 29", "ollama.memory_layout"),
    ("llama runner process has terminated: CUDA error: out of memory", "ollama.out_of_memory"),
    ("cudaMalloc failed: out of memory", "ollama.out_of_memory"),
    ("ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer", "ollama.out_of_memory"),
])
def test_memory_errors_get_a_concrete_hint_and_keep_ollamas_text(ollama_standin, error, code):
    ollama_standin.fail_mode = "500_before_stream"
    ollama_standin.error_message = error + " ![x](http://example.com/a.png)"
    with pytest.raises(OllamaError) as err:
        with ollama_errors(ollama_standin.url, "/api/chat", model="kb-qwen"):
            ollama.Client(host=ollama_standin.url).chat("kb-qwen", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == code
    assert err.value.params["error"] == error + " ![x](http://example.com/a.png)"  # carried, not interpreted
    for lang in ("zh", "en"):
        assert "num_ctx" in err.value.message(lang) and "python -m kb model setup" in err.value.message(lang)


@pytest.mark.timeout(20)
def test_ollama_errors_translates_a_dropped_stream(ollama_standin):
    ollama_standin.fail_mode = "stall"
    ollama_standin.stall_timeout = 0.3
    client = ollama.Client(host=ollama_standin.url)
    with pytest.raises(OllamaError, match="connection to Ollama .* broke while answering /api/chat"):
        with ollama_errors(ollama_standin.url, "/api/chat"):
            list(client.chat("kb-qwen", messages=[{"role": "user", "content": "hi"}], stream=True))


def test_not_an_ollama_server():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status = OllamaAdmin(f"http://127.0.0.1:{server.server_address[1]}", timeout=2).status("kb-qwen")
        assert not status.reachable and "is that address really Ollama?" in status.error
    finally:
        server.shutdown()
        server.server_close()


# -- LoRA adapters and versions ---------------------------------------------------------------------


def _lora_modelfile(tmp_path: Path, adapter: str) -> Path:
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM qwen2.5:1.5b\nADAPTER {adapter}\nLICENSE Apache-2.0\nMESSAGE user 你好\n"
                         "PARAMETER num_ctx 4096\n", encoding="utf-8")
    return modelfile


def test_setup_uploads_a_gguf_lora_and_sends_it_as_adapters(tmp_path, admin, ollama_standin):
    lora = b"GGUF\x03\x00\x00\x00" + b"lora" * 512
    (tmp_path / "lora.gguf").write_bytes(lora)
    digest = "sha256:" + hashlib.sha256(lora).hexdigest()
    events: list[SetupProgress] = []
    admin.setup_model("kb-qwen-lora", _lora_modelfile(tmp_path, "./lora.gguf"), progress=events.append)

    assert [(r.method, r.path) for r in ollama_standin.calls("/api/blobs")] == [
        ("HEAD", f"/api/blobs/{digest}"), ("POST", f"/api/blobs/{digest}")]
    [create] = ollama_standin.calls("/api/create")
    assert create.body["from"] == "qwen2.5:1.5b" and "files" not in create.body
    assert create.body["adapters"] == {"lora.gguf": digest}
    assert create.body["license"] == ["Apache-2.0"]
    assert create.body["messages"] == [{"role": "user", "content": "你好"}]
    shown = ollama.Client(host=ollama_standin.url).show("kb-qwen-lora").modelfile
    assert f"ADAPTER /root/.ollama/models/blobs/sha256-{digest.split(':')[1]}" in shown
    assert "parsing GGUF" in [e.status for e in events]


def test_a_safetensors_adapter_folder_is_uploaded_file_by_file(tmp_path, admin, ollama_standin):
    peft = tmp_path / "qwen-lora"
    peft.mkdir()
    (peft / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (peft / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}', encoding="utf-8")
    with pytest.raises(OllamaError) as err:
        admin.setup_model("kb-qwen-lora", _lora_modelfile(tmp_path, "./qwen-lora"))
    [create] = ollama_standin.calls("/api/create")
    assert sorted(create.body["adapters"]) == ["adapter_config.json", "adapter_model.safetensors"]
    assert len(ollama_standin.calls("/api/blobs", method="POST")) == 2
    # Ollama converts safetensors adapters for llama and gemma2 bases only: a Qwen LoRA must be a GGUF
    assert err.value.code == "ollama.create_failed" and err.value.params["error"] == "unsupported architecture"
    assert not ollama_standin.model("kb-qwen-lora")


def test_a_missing_adapter_is_named_before_anything_is_sent(tmp_path, admin, ollama_standin):
    with pytest.raises(ConfigError, match="ADAPTER ./nowhere.gguf: nothing at"):
        admin.setup_model("x", _lora_modelfile(tmp_path, "./nowhere.gguf"))
    assert not ollama_standin.calls("/api/create") and not ollama_standin.calls("/api/blobs")


def test_an_old_ollama_gets_upgrade_advice(tmp_path):
    with OllamaStandin(version="0.5.4") as server:
        admin = OllamaAdmin(server.url, timeout=5)
        with pytest.raises(OllamaError) as err:
            admin.setup_model("kb-qwen", MODELFILE)
        assert err.value.code == "ollama.too_old" and "ollama.com/download" in err.value.message("en")
        assert "升级" in err.value.message("zh")
        assert not server.calls("/api/create")
        status = admin.status("kb-qwen")
        assert status.reachable and status.error_code == "ollama.too_old"
    with OllamaStandin(version="0.0.0") as server:  # a development build: nothing to compare
        assert OllamaAdmin(server.url, timeout=5).status("kb-qwen").error is None


def test_requires_is_checked_against_the_server(tmp_path, admin, ollama_standin):
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM qwen2.5:1.5b\nREQUIRES 0.13.0\n", encoding="utf-8")
    with pytest.raises(OllamaError, match="REQUIRES asks for Ollama 0.13.0 or newer, but this one is 0.12.6"):
        admin.setup_model("x", modelfile)
    modelfile.write_text("FROM qwen2.5:1.5b\nREQUIRES 0.12\n", encoding="utf-8")
    admin.setup_model("x", modelfile)


# -- placement: Ollama places the layers unless the user asks --------------------------------------------


def _ask(url: str) -> None:
    with ollama_errors(url, "/api/chat", model="kb-qwen"):
        ollama.Client(host=url).chat("kb-qwen", messages=[{"role": "user", "content": "hi"}])


def test_without_num_gpu_a_busy_card_splits_and_ps_shows_it():
    with OllamaStandin(models=("qwen2.5:1.5b",)) as server:
        admin = OllamaAdmin(server.url, timeout=5)
        admin.setup_model("kb-qwen", MODELFILE)
        assert "num_gpu" not in server.calls("/api/create")[0].body["parameters"]
        server.gpu_free = int(1.3 * 2**30)  # the desktop holds the rest of the 4 GiB
        _ask(server.url)
        [running] = admin.running("kb-qwen")
        assert 0 < running.size_vram < running.size
        assert running.placement.endswith("CPU/GPU") and running.placement == admin.status("kb-qwen").running.placement


def test_num_gpu_only_when_asked_and_then_the_memory_layout_error_gets_its_hint():
    with OllamaStandin(models=("qwen2.5:1.5b",)) as server:
        admin = OllamaAdmin(server.url, timeout=5)
        admin.setup_model("kb-qwen", MODELFILE, num_gpu=29)
        assert server.calls("/api/create")[0].body["parameters"]["num_gpu"] == 29
        _ask(server.url)  # an idle card: all 29 layers fit
        assert admin.running("kb-qwen")[0].placement == "100% GPU"
        server.unload("kb-qwen")
        server.gpu_free = int(1.3 * 2**30)
        with pytest.raises(OllamaError) as err:
            _ask(server.url)
        assert err.value.code == "ollama.memory_layout"
        assert err.value.params["error"] == "memory layout cannot be allocated with num_gpu = 29"
        assert "PARAMETER num_gpu" in err.value.message("en")
