"""The message catalog: both languages for every code, the same placeholders, the language rule."""
import pytest

from kb.errors import IngestError, KBError, StoreError
from kb.messages import CATALOG, current_lang, placeholders, render


def test_every_code_has_both_languages_with_the_same_placeholders():
    for code, (zh, en) in CATALOG.items():
        assert zh.strip() and en.strip(), code
        assert placeholders(zh) == placeholders(en), code


def test_an_error_renders_in_the_language_asked_for():
    exc = KBError("kb.document_not_found", kb="notes", key="a.md")
    assert exc.message("en").startswith("No document 'a.md'")
    assert "没有文档 “a.md”" in exc.message("zh")
    assert exc.to_dict()["code"] == "kb.document_not_found"


def test_an_unknown_code_fails_at_the_raise_site():
    with pytest.raises(LookupError):
        StoreError("no.such.code")


def test_ingest_errors_keep_the_file(monkeypatch):
    monkeypatch.setenv("KB_LANG", "en")
    exc = IngestError("a.md", "kb.question_empty")
    assert exc.file == "a.md" and exc.params["file"] == "a.md"
    assert exc.reason == render("kb.question_empty", {}, "en")


@pytest.mark.parametrize("env,expected", [
    ({"KB_LANG": "zh"}, "zh"), ({"KB_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "en_US.UTF-8"}, "en"), ({"LC_ALL": "zh_TW.UTF-8", "LANG": "C"}, "zh"),
])
def test_the_cli_language_follows_kb_lang_then_the_locale(monkeypatch, env, expected):
    for var in ("KB_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert current_lang() == expected
