"""kb.llm.modelfile against the behaviour Ollama's parser/parser_test.go documents, plus the edge cases of issue 13.

Cases are written from the grammar (parser.go's state machine and api.FormatParams), not copied.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import ConfigError
from kb.llm.modelfile import (Command, ModelfileSpec, adapter_files, decode, go_float32, go_int, parse_commands,
                          parse_modelfile, read_modelfile)

REPO = Path(__file__).resolve().parent.parent


def cmds(text: str) -> list[tuple[str, str]]:
    return [(c.name, c.args) for c in parse_commands(text)]


LLAMA_TEMPLATE = ("{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>")


def test_every_command_and_a_trailing_space_after_the_block():
    text = (f'\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n'
            f'TEMPLATE """{LLAMA_TEMPLATE}"""    \n')
    assert cmds(text) == [("model", "model1"), ("adapter", "adapter1"), ("license", "MIT"), ("param1", "value1"),
                          ("param2", "value2"), ("template", LLAMA_TEMPLATE)]


def test_spaces_are_trimmed_outside_quotes_and_kept_inside():
    text = ('FROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
            'TEMPLATE """   {{ .Prompt }}   """    \n')
    assert cmds(text) == [("model", "     model 1"), ("adapter", "adapter3"), ("license", "MIT       "),
                          ("param1", "value1"), ("template", "   {{ .Prompt }}   ")]


@pytest.mark.parametrize("text,expected", [
    ('FROM "FOO  BAR  "', [("model", "FOO  BAR  ")]),
    ('FROM "FOO BAR"\nPARAMETER param1 value1', [("model", "FOO BAR"), ("param1", "value1")]),
    ("FROM     FOOO BAR    ", [("model", "FOOO BAR")]),
    ("FROM /what/is/the path ", [("model", "/what/is/the path")]),
    ("FROM llama3:7b-instruct-q4_K_M", [("model", "llama3:7b-instruct-q4_K_M")]),
    ("PARAMETER param1 value1\nFROM foo", [("param1", "value1"), ("model", "foo")]),
    ("PARAMETER what the \nFROM lemons make lemonade ", [("what", "the"), ("model", "lemons make lemonade")]),
    ("from foo\nsystem hi", [("model", "foo"), ("system", "hi")]),  # instructions are case-insensitive
    ("\n# comment\nFROM foo\n\t", [("model", "foo")]),
    ("FROM foo\nSYSTEM a # not a comment", [("model", "foo"), ("system", "a # not a comment")]),
    ("FROM foo\nRENDERER renderer1\nPARSER parser1\nDRAFT ./assistant",
     [("model", "foo"), ("renderer", "renderer1"), ("parser", "parser1"), ("draft", "./assistant")]),
])
def test_from_and_values(text, expected):
    assert cmds(text) == expected


@pytest.mark.parametrize("text", ["", "PARAMETER param1 value1", "# only a comment\n"])
def test_no_from_is_an_error(text):
    with pytest.raises(ConfigError, match="no FROM line"):
        parse_modelfile(text)


@pytest.mark.parametrize("text,expected", [
    ('SYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t', "\nThis is a\nmultiline system.\n"),
    ('SYSTEM """\nThis is a\nmultiline system."""', "\nThis is a\nmultiline system."),
    ('SYSTEM """This is a\nmultiline system."""', "This is a\nmultiline system."),
    ('SYSTEM """This is a multiline system."""', "This is a multiline system."),
    ('SYSTEM """\nwith "quotes".\n"""\n', '\nwith "quotes".\n'),
    ('SYSTEM """"""\n', ""),
    ('SYSTEM ""\n', ""),
    ("SYSTEM \"'\"\n", "'"),
    ('SYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n', '\'\'"\'""\'""\'"\'\'\'\'\'""\'""\''),
    ('SYSTEM """a\r\nb\r\n"""\r\n', "a\r\nb\r\n"),  # CR LF inside a block stays as written, as in Ollama
])
def test_quoted_values(text, expected):
    assert cmds("FROM foo\n" + text) == [("model", "foo"), ("system", expected)]


@pytest.mark.parametrize("text", ['SYSTEM """This is a multiline system.""\n', 'SYSTEM "\n', 'SYSTEM """\nopen'])
def test_unbalanced_quotes_are_an_error(text):
    with pytest.raises(ConfigError, match="line 2: SYSTEM value has an unterminated quote"):
        parse_commands("FROM foo\n" + text)


@pytest.mark.parametrize("line,name,value", [
    ("num_ctx 1", "num_ctx", "1"), ("top_p 1.0", "top_p", "1.0"), ("min_p 0.05", "min_p", "0.05"),
    ("stop ### User:", "stop", "### User:"), ("stop ### User: ", "stop", "### User:"),
    ('stop "### User:"', "stop", "### User:"), ('stop "### User: "', "stop", "### User: "),
    ('stop """### User:"""', "stop", "### User:"), ('stop """### User:\n"""', "stop", "### User:\n"),
    ("stop <|endoftext|>", "stop", "<|endoftext|>"), ("stop </s>", "stop", "</s>"),
    ("numa true", "numa", "true"),  # ParseFile does not know parameter names; CreateRequest does
])
def test_parameters_as_parsefile_reads_them(line, name, value):
    assert cmds(f"FROM foo\nPARAMETER {line}\n") == [("model", "foo"), (name, value)]


def test_messages():
    text = ('FROM foo\nMESSAGE system You are a file parser.\nMESSAGE user Hey there!\n'
            'MESSAGE assistant """\nHello, I parse\nall the things!\n"""\n')
    assert cmds(text)[1:] == [("message", "system: You are a file parser."), ("message", "user: Hey there!"),
                              ("message", "assistant: \nHello, I parse\nall the things!\n")]
    assert cmds("FROM foo\nMESSAGE system no newline at the end") == [
        ("model", "foo"), ("message", "system: no newline at the end")]
    spec = parse_modelfile(text)
    assert spec.messages == ({"role": "system", "content": "You are a file parser."},
                             {"role": "user", "content": "Hey there!"},
                             {"role": "assistant", "content": "\nHello, I parse\nall the things!\n"})


@pytest.mark.parametrize("text,problem", [
    ("FROM foo\nMESSAGE badguy I'm a bad guy!\n", "line 2: MESSAGE role 'badguy' must be one of"),
    ("FROM foo\nMESSAGE User hi\n", "line 2: MESSAGE role 'User' must be one of"),  # roles are lower case
    ("FROM foo\nMESSAGE  user hi\n", "line 2: MESSAGE role '' must be one of"),  # two spaces: an empty role
    ("FROM foo\nMESSAGE system\n", "line 2: MESSAGE needs a role and a text"),
    ("FROM foo\nMESSAGE system", "line 2: MESSAGE needs a role and a text"),
])
def test_message_errors(text, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_commands(text)


@pytest.mark.parametrize("text,problem", [
    ("\nFROM foo\nBADCOMMAND param1 value1\n", "line 3: unknown instruction 'BADCOMMAND'"),
    ("FROM foo\nPARAMETER param1\n", "line 2: PARAMETER needs a name and a value"),
    ("FROM foo\nPARAMETER num-ctx 1\n", "line 2: PARAMETER needs a name and a value"),
    ("FROM\n", "line 1: FROM needs a value"),
    ("FROM", "line 1: FROM needs a value"),
    ("FR0M x\n", "line 1: cannot read 'FR0'"),
])
def test_syntax_errors_name_the_line(text, problem):
    with pytest.raises(ConfigError, match="Modelfile " + problem):
        parse_commands(text)


def test_parameter_with_two_spaces_is_an_empty_name():
    assert cmds("FROM x\nPARAMETER  num_ctx 4096\n") == [("model", "x"), ("", "num_ctx 4096")]
    with pytest.raises(ConfigError, match="line 2: PARAMETER is followed by two spaces"):
        parse_modelfile("FROM x\nPARAMETER  num_ctx 4096\n")


def test_non_printable_characters_are_dropped_like_go():
    # U+3000 (ideographic space) and U+200B are not strconv.IsPrint: Ollama drops them, tab and CR LF survive
    assert cmds("FROM x\nSYSTEM 你\u3000好\u200b\t!\n") == [("model", "x"), ("system", "你好\t!")]
    assert cmds("\u3000FROM x\n") == [("model", "x")]


def test_utf16_with_a_bom_and_multibyte_text():
    text = "FROM bob\r\nPARAMETER num_ctx 4096\r\nSYSTEM 你好👋\r\n"
    for data in (text.encode("utf-16"), b"\xff\xfe" + text.encode("utf-16-le"), b"\xfe\xff" + text.encode("utf-16-be"),
                 b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-8")):
        spec = parse_modelfile(decode(data))
        assert (spec.from_, spec.system, spec.parameters) == ("bob", "你好👋", {"num_ctx": 4096})


def test_read_modelfile_reads_what_powershell_writes(tmp_path):
    path = tmp_path / "Modelfile"
    path.write_bytes(b"\xff\xfe" + "FROM qwen3:1.7b\r\nSYSTEM 只依据资料回答\r\n".encode("utf-16-le"))
    assert parse_modelfile(read_modelfile(path)).system == "只依据资料回答"
    path.write_bytes(b"FROM x\nSYSTEM \xff\xfe\xfd\n")
    with pytest.raises(ConfigError, match="Cannot read the Modelfile"):
        read_modelfile(path)


def test_crlf_line_numbers_count_once():
    with pytest.raises(ConfigError, match="line 3: unknown instruction"):
        parse_commands("FROM x\r\nSYSTEM a\r\nNOPE b\r\n")


# -- CreateRequest / FormatParams ------------------------------------------------------------------------


def test_create_request_fields():
    spec = parse_modelfile("FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nSYSTEM You are a bot.\n"
                           "LICENSE license1\nLICENSE license2\nMESSAGE user Hello there!\n"
                           "MESSAGE assistant Hi! How are you?\nADAPTER ./lora.gguf\nREQUIRES 0.12\n")
    assert spec == ModelfileSpec(
        from_="test", template=None, system="You are a bot.", parameters={"temperature": 0.5, "top_k": 1},
        adapter="./lora.gguf", license=("license1", "license2"),
        messages=({"role": "user", "content": "Hello there!"}, {"role": "assistant", "content": "Hi! How are you?"}),
        requires="0.12", from_all=("test",))
    assert type(spec.parameters["top_k"]) is int


@pytest.mark.parametrize("value,expected", [
    ("4096", 4096), ("+5", 5), ("-1", -1), ("0", 0), ("9223372036854775807", 2**63 - 1),
    ("４０９６", None), ("4_096", None), (" 4096", None), ("4096.0", None), ("0x10", None),
    ("9223372036854775808", None),
    ("", None), ("1e3", None),
])
def test_go_int(value, expected):
    assert go_int(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("0.1", 0.1), ("1", 1.0), (".5", 0.5), ("5.", 5.0), ("-1.5e-3", -1.5e-3), ("1_000.5", 1000.5),
    ("0x1p-2", 0.25), ("3.4e38", 3.4e38),
    ("０.１", None), ("1__0", None), ("_1", None), ("1_", None), ("1._5", None), ("inf", None), ("NaN", None),
    ("3.5e38", None), ("1e400", None), ("0x10", None), ("", None), (".", None), ("1,5", None),
])
def test_go_float32(value, expected):
    assert go_float32(value) == expected


@pytest.mark.parametrize("line,problem", [
    ("num_ctx ４０９６", "PARAMETER num_ctx must be an integer, got '４０９６'"),
    ("num_ctx 4096 # big", "PARAMETER num_ctx must be an integer"),
    ("temperature inf", "PARAMETER temperature must be a finite number"),
    ("temperature ０.１", "PARAMETER temperature must be a finite number"),
    ("use_mmap yes", "PARAMETER use_mmap must be bool"),
    ("num_gpus 1", "unknown parameter 'num_gpus'"),
    ("numa true", "unknown parameter 'numa'"),
])
def test_parameter_values_follow_go(line, problem):
    with pytest.raises(ConfigError, match="line 2: " + problem):
        parse_modelfile(f"FROM x\nPARAMETER {line}\n")


def test_parameter_types_and_deprecated_names():
    spec = parse_modelfile("FROM x\nPARAMETER use_mmap F\nPARAMETER main_gpu 0\nPARAMETER mirostat 1\n"
                           "PARAMETER stop a\nPARAMETER stop b\nPARAMETER top_p 0x1p-1\n")
    assert spec.parameters == {"use_mmap": False, "main_gpu": 0, "stop": ["a", "b"], "top_p": 0.5}


@pytest.mark.parametrize("value,ok", [("0.14.0", True), ("v0.5.5", True), ("1", True), ("0.12", True),
                                      ("1.2.3-rc1", True), ("01.2", False), ("latest", False), ("1.2.3.4", False)])
def test_requires_is_semver(value, ok):
    if ok:
        assert parse_modelfile(f"FROM x\nREQUIRES {value}\n").requires == value.lstrip("v")
    else:
        with pytest.raises(ConfigError, match="REQUIRES .* is not a valid version"):
            parse_modelfile(f"FROM x\nREQUIRES {value}\n")


def test_several_from_files_but_not_two_model_names():
    assert parse_modelfile("FROM ./a-00001-of-00002.gguf\nFROM ./a-00002-of-00002.gguf\n").from_all == (
        "./a-00001-of-00002.gguf", "./a-00002-of-00002.gguf")
    with pytest.raises(ConfigError, match="line 2: second FROM"):
        parse_modelfile("FROM qwen2.5:1.5b\nFROM qwen3:1.7b\n")


def test_adapter_files(tmp_path):
    (tmp_path / "lora.gguf").write_bytes(b"GGUF")
    assert adapter_files("./lora.gguf", tmp_path) == {"lora.gguf": tmp_path / "lora.gguf"}
    peft = tmp_path / "out"
    peft.mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json", "README.md"):
        (peft / name).write_text("x")
    assert sorted(adapter_files("out", tmp_path)) == ["adapter_config.json", "adapter_model.safetensors"]
    with pytest.raises(ConfigError, match="ADAPTER nowhere: nothing at"):
        adapter_files("nowhere", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no .safetensors file"):
        adapter_files("empty", tmp_path)


def test_the_repo_modelfile_round_trips():
    commands = parse_commands((REPO / "Modelfile").read_text(encoding="utf-8"))
    assert commands[0] == Command("model", "qwen2.5:1.5b", commands[0].line)


@pytest.mark.parametrize("text", [
    "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nTEMPLATE template1\n"
    "MESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n",
    '\nFROM foo\nMESSAGE system """\nYou are a store greeter. Always respond with "Hello!".\n"""\n',
    '\nFROM foo\nLICENSE """\nVery long and boring legal text.\n"Oh look, a quote!"\n"""\n\nPARAMETER p v\n',
    '\nFROM foo\nSYSTEM ""\n',
    (REPO / "Modelfile").read_text(encoding="utf-8"),
])
def test_format_then_parse_gives_the_same_commands(text):
    from kb.llm.modelfile import format_commands

    first = [(c.name, c.args) for c in parse_commands(text)]
    assert [(c.name, c.args) for c in parse_commands(format_commands(parse_commands(text)))] == first
