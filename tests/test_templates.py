"""Each model family gets the right template, the model's own first (kb/llm/templates.py): Ollama's
capability rules on plain templates, the stand-in's version-tied template selection (Ollama >= 0.30
prefers the GGUF's chat template over a TEMPLATE that can do less), and `model setup` through the real
`ollama` client over HTTP never sending a TEMPLATE with fewer capabilities than the base model's own."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import httpx
import pytest

from kb import cli
from kb.llm.modelfile import parse_modelfile, read_modelfile
from kb.llm.ollama import OllamaAdmin, SetupProgress
from kb.llm.templates import (FAMILY_TEMPLATES, QWEN2_TEMPLATE, QWEN3_TEMPLATE, choose_template, family_template,
                              go_template_capabilities, is_chat_template, template_capabilities)
from tests.ollama_standin import CHATML_TEMPLATE, OllamaStandin, make_model

REPO = Path(__file__).resolve().parent.parent
OLD, NEW = "0.12.6", "0.33.0"  # before and after Ollama 0.30 (the GGUF's chat template preferred)
# The TEMPLATE this repository's Modelfile carried until now: ChatML without tools or <think>.
PLAIN_CHATML = ('{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
                '{{- range $i, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
                '<|im_start|>assistant\n')


def test_capabilities_follow_ollamas_rules():
    assert go_template_capabilities(QWEN2_TEMPLATE) == ("tools",)
    assert go_template_capabilities(QWEN3_TEMPLATE) == ("tools", "thinking")
    assert go_template_capabilities(PLAIN_CHATML) == go_template_capabilities(CHATML_TEMPLATE) == ()
    # server/images_test.go's own examples
    assert go_template_capabilities("CUSTOM {{ .Prompt }}") == ()
    assert go_template_capabilities(
        "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ .Content }}{{ end }}"
    ) == ("thinking",)
    assert go_template_capabilities("{{ .Prompt }}{{ if .Suffix }}<fim>{{ .Suffix }}{{ end }}") == ("insert",)
    assert go_template_capabilities('{{ "tools" }} tools') == ()  # text and strings are not variables
    jinja = "{% if tools %}{{ tools }}{% endif %}{% set content = (content.split('</think>')|last) %}<think>"
    assert is_chat_template(jinja) and not is_chat_template(QWEN3_TEMPLATE)
    assert template_capabilities(jinja + "</think>") == ("tools", "thinking")


def test_choose_template_keeps_ours_only_when_it_can_do_everything_the_base_can():
    qwen3 = ("completion", "tools", "thinking")
    assert choose_template(None, qwen3).reason == "none"
    dropped = choose_template(PLAIN_CHATML, qwen3)
    assert dropped.template is None and dropped.reason == "base" and dropped.missing == ("tools", "thinking")
    assert choose_template(PLAIN_CHATML, ("completion", "tools")).missing == ("tools",)
    assert choose_template(QWEN3_TEMPLATE, qwen3).template == QWEN3_TEMPLATE
    assert choose_template(PLAIN_CHATML, ("completion",)).reason == "ours"  # a base without tools loses nothing
    assert family_template("qwen3", ("completion",)) == QWEN3_TEMPLATE
    assert family_template("qwen3", ("tools", "thinking", "completion")) is None
    assert family_template("llama", ("completion",)) is None and set(FAMILY_TEMPLATES) == {"qwen2", "qwen3"}
    assert family_template("qwen3", ("completion",), (0, 8, 0)) == QWEN2_TEMPLATE  # 0.8 cannot execute .Think


@pytest.mark.parametrize("version,capabilities,native", [
    (OLD, ["completion"], False),                          # our TEMPLATE renders, whatever it lacks
    (NEW, ["tools", "thinking", "completion"], True),      # the GGUF's chat template can do more: it renders
    ("0.0.0", ["tools", "thinking", "completion"], True),  # a development build is the newest
])
def test_the_standin_selects_the_template_as_that_ollama_version_does(version, capabilities, native):
    model = dataclasses.replace(make_model("qwen3:1.7b"), name="plain-qwen3:latest", template=PLAIN_CHATML)
    with OllamaStandin(models=[model, "qwen3:1.7b"], version=version) as server:
        assert httpx.get(f"{server.url}/api/version").json() == {"version": version}
        with OllamaAdmin(server.url, timeout=5) as admin:
            plain, own = admin.show("plain-qwen3"), admin.show("qwen3:1.7b")
            assert list(plain.capabilities) == capabilities
            assert is_chat_template(plain.template) is native  # /api/show returns the selected template
            assert set(own.capabilities) == {"completion", "tools", "thinking"}  # its own Go template, any version
            assert own.template == QWEN3_TEMPLATE


def _modelfile(tmp_path: Path, first: str, template: str | None = None) -> Path:
    text = f"{first}\n"
    if template is not None:
        text += f'TEMPLATE """{template}"""\n'
    path = tmp_path / "Modelfile"
    path.write_text(text + 'SYSTEM """只依据资料回答。"""\nPARAMETER num_ctx 4096\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("version", [OLD, NEW])
def test_setup_leaves_out_a_template_with_fewer_capabilities_than_the_base_models_own(tmp_path, version):
    events: list[SetupProgress] = []
    with OllamaStandin(models=(), version=version) as server, OllamaAdmin(server.url, timeout=5) as admin:
        admin.setup_model("kb-qwen", _modelfile(tmp_path, "FROM qwen3:1.7b", PLAIN_CHATML), events.append)
        [create] = server.calls("/api/create")
        details = admin.show("kb-qwen")
    assert "template" not in create.body and create.body["system"] == "只依据资料回答。"
    assert set(details.capabilities) == {"completion", "tools", "thinking"} and details.template == QWEN3_TEMPLATE
    assert "using qwen3:1.7b's own template: the Modelfile's TEMPLATE lacks tools, thinking" in [
        e.status for e in events]


def test_setup_keeps_a_template_that_can_do_everything(tmp_path):
    with OllamaStandin(models=(), version=OLD) as server, OllamaAdmin(server.url, timeout=5) as admin:
        admin.setup_model("kb-qwen", _modelfile(tmp_path, "FROM qwen3:1.7b", QWEN3_TEMPLATE))
        [create] = server.calls("/api/create")
    assert create.body["template"] == QWEN3_TEMPLATE


@pytest.mark.parametrize("version,creates", [(OLD, 2), (NEW, 1), ("0.8.0", 2)])
def test_a_gguf_file_gets_its_familys_template_where_ollama_would_not_use_the_files_own(tmp_path, version,
                                                                                         creates):
    (tmp_path / "Qwen3-1.7B-Q4_K_M.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(64))
    events: list[SetupProgress] = []
    with OllamaStandin(models=(), version=version) as server, OllamaAdmin(server.url, timeout=5) as admin:
        admin.setup_model("kb-qwen", _modelfile(tmp_path, "FROM ./Qwen3-1.7B-Q4_K_M.gguf"), events.append)
        posts = server.calls("/api/create")
        details = admin.show("kb-qwen")
    assert len(posts) == creates and "template" not in posts[0].body
    if version == "0.8.0":  # no thinking before 0.9: the qwen2.5 template, tools without <think>
        assert posts[1].body["template"] == QWEN2_TEMPLATE and details.capabilities == ("completion", "tools")
        return
    assert set(details.capabilities) == {"completion", "tools", "thinking"}
    if creates == 2:  # Ollama 0.12 detected a plain ChatML for the file: the qwen3 template replaces it
        assert posts[1].body["template"] == QWEN3_TEMPLATE and posts[1].body["files"] == posts[0].body["files"]
        assert any(e.status.startswith("using the qwen3 template") for e in events)
    else:  # Ollama 0.30+ renders with the GGUF's own chat template
        assert is_chat_template(details.template)


def test_the_repo_modelfile_gives_qwen3_its_thinking_template(tmp_path, monkeypatch):
    modelfile = tmp_path / "Modelfile"
    shutil.copy(REPO / "Modelfile", modelfile)
    assert parse_modelfile(read_modelfile(modelfile)).template is None
    with OllamaStandin(models=(), version=OLD) as server:
        for var, value in {"KB_OLLAMA_URL": server.url, "KB_DATA_DIR": str(tmp_path / "data"), "KB_LANG": "en",
                           "KB_OLLAMA_MODELFILE": str(modelfile)}.items():
            monkeypatch.setenv(var, value)
        assert cli.main(["model", "setup", "--from", "qwen3:1.7b", "--json"]) == 0
        with OllamaAdmin(server.url, timeout=5) as admin:
            assert "thinking" in admin.show("kb-qwen").capabilities


@pytest.mark.parametrize("version,source", [(OLD, "template"), (NEW, "gguf")])
def test_model_status_says_which_template_renders_and_what_it_can_do(tmp_path, monkeypatch, capsys, version,
                                                                     source):
    (tmp_path / "qwen3-1.7b.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(64))
    with OllamaStandin(models=(), version=version) as server:
        for var, value in {"KB_OLLAMA_URL": server.url, "KB_DATA_DIR": str(tmp_path / "data"), "KB_LANG": "en",
                           "KB_OLLAMA_MODELFILE": str(_modelfile(tmp_path, "FROM ./qwen3-1.7b.gguf"))}.items():
            monkeypatch.setenv(var, value)
        assert cli.main(["model", "setup", "--json"]) == 0
        capsys.readouterr()
        assert cli.main(["model", "status", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert cli.main(["model", "status"]) == 0
        text = capsys.readouterr().out
    assert data["template_source"] == source and set(data["capabilities"]) == {"completion", "tools", "thinking"}
    assert "capabilities: " in text and ("the GGUF's own chat template" in text) is (source == "gguf")
