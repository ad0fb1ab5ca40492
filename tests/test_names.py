"""Names are normalised (NFKC) before they become knowledge bases or files, and bounded in bytes up front."""
from __future__ import annotations

import json
import unicodedata

import pytest

from kb.config import KB_NAME_MAX_BYTES, _valid_kb_name, normalise_kb_name
from kb.errors import IngestError, KBError
from kb.ingest.loaders import clean_file_name

from .reliability.helpers import kb_cli

NOTE = "# 笔记\n\n名称归一化之后，看起来一样的名字只对应一个知识库。\n"


@pytest.mark.parametrize("spelling", ["café", unicodedata.normalize("NFD", "café"), "ｃａｆé", " café "])
def test_look_alike_knowledge_base_names_are_one_name(spelling):
    assert normalise_kb_name(spelling) == "café"


def test_chinese_names_and_digits_are_kept():
    assert normalise_kb_name("读书笔记_２０２６") == "读书笔记_2026"


@pytest.mark.parametrize("name,code", [
    ("a" * 300, "kb.name_too_long"), ("𠀀" * 64, "kb.name_too_long"), ("笔" * 65, "kb.name_too_long"),
    ("", "kb.name_empty"), ("   ", "kb.name_empty"), ("../x", "kb.name_invalid"), ("a／b", "kb.name_invalid"),
    ("-x", "kb.name_invalid"), ("a b", "kb.name_invalid"), ("x\x1b[31m", "kb.name_invalid"), ("a" * 65, "kb.name_invalid"),
])
def test_bad_knowledge_base_names_get_a_code(name, code):
    with pytest.raises(KBError) as exc:
        normalise_kb_name(name)
    assert exc.value.code == code
    assert "\x1b" not in exc.value.message("en")


def test_no_accepted_name_can_reach_the_folder_name_limit():
    longest = "𠀀" * (KB_NAME_MAX_BYTES // 4)  # 4-byte characters: the most bytes per character
    assert normalise_kb_name(longest) == longest
    for name in (longest, "笔" * 64, "a" * 64):
        folder = f".deleting-{normalise_kb_name(name)}-1767225600.123456"  # the longest derived folder today
        assert len(folder.encode("utf-8")) < 255


def test_the_transition_check_accepts_only_normal_forms():
    assert _valid_kb_name("notes") and not _valid_kb_name("ｎｏｔｅｓ") and not _valid_kb_name("x" * 300)


@pytest.mark.parametrize("spelling", ["notes.md", "ｎｏｔｅｓ.md", "ｎｏｔｅｓ．ｍｄ"])
def test_look_alike_file_names_are_one_name(spelling):
    assert clean_file_name(spelling) == "notes.md"


@pytest.mark.parametrize("name,code", [("a／b.md", "ingest.name_separator"), ("a＼b.md", "ingest.name_separator"),
                                       ("．hidden.md", "ingest.name_dot"), ("．．", "ingest.name_dot"),
                                       ("笔" * 70 + ".md", "ingest.name_too_long"),
                                       ("x" * 100_000 + ".md", "ingest.name_too_long")])
def test_look_alike_separators_and_dots_are_caught_after_normalising(name, code):
    with pytest.raises(IngestError) as exc:
        clean_file_name(name)
    assert exc.value.code == code and len(exc.value.file) <= 120


def test_cli_look_alike_names_make_one_knowledge_base_and_one_document(tmp_path):
    data = tmp_path / "data"
    nfc, nfd = tmp_path / "nfc", tmp_path / "nfd"
    nfc.mkdir(), nfd.mkdir()
    (nfc / "café.md").write_text(NOTE, encoding="utf-8")
    (nfd / unicodedata.normalize("NFD", "café.md")).write_text(NOTE, encoding="utf-8")
    first = kb_cli(data, "ingest", str(nfc / "café.md"), "--kb", "café", "--no-progress", "--json")
    assert first.returncode == 0, first.stderr
    second = kb_cli(data, "ingest", str(next(nfd.iterdir())), "--kb", unicodedata.normalize("NFD", "ｃａｆé"),
                    "--no-progress", "--json")
    assert second.returncode == 0, second.stderr
    assert [f["status"] for f in json.loads(second.stdout)["files"]] == ["unchanged"]
    kbs = json.loads(kb_cli(data, "kbs", "--json").stdout)
    assert [k["name"] for k in kbs] == ["café"] and kbs[0]["n_documents"] == 1
    assert [p.name for p in (data / "kbs").iterdir()] == ["café"]


@pytest.mark.parametrize("lang,words", [("en", "too long"), ("zh", "太长")])
def test_cli_over_long_knowledge_base_name_is_a_coded_error(tmp_path, lang, words):
    note = tmp_path / "a.md"
    note.write_text(NOTE, encoding="utf-8")
    out = kb_cli(tmp_path / "data", "ingest", str(note), "--kb", "a" * 300, "--no-progress", KB_LANG=lang)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert words in out.stderr and "192" in out.stderr
    as_json = kb_cli(tmp_path / "data", "docs", "--kb", "笔" * 100, "--json", KB_LANG=lang)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["code"] == "kb.name_too_long"
    assert not (tmp_path / "data" / "kbs").exists() or not any((tmp_path / "data" / "kbs").iterdir())


def test_cli_default_kb_from_the_environment_is_normalised(tmp_path):
    note = tmp_path / "a.md"
    note.write_text(NOTE, encoding="utf-8")
    out = kb_cli(tmp_path / "data", "ingest", str(note), "--no-progress", KB_DEFAULT_KB="ｎｏｔｅｓ")
    assert out.returncode == 0, out.stderr
    assert [p.name for p in (tmp_path / "data" / "kbs").iterdir()] == ["notes"]
    bad = kb_cli(tmp_path / "data", "docs", KB_DEFAULT_KB="x" * 300, KB_LANG="en")
    assert bad.returncode == 2 and "KB_DEFAULT_KB" in bad.stderr and "Traceback" not in bad.stderr
