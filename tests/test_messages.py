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


def _raise_sites():
    """Every construction of one of our error classes in kb/, with its first argument."""
    import ast
    from pathlib import Path

    import kb.errors as errors

    ours = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.KBError)}
    root = Path(errors.__file__).parent
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ours:
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                args = node.args[1:] if name == "IngestError" else node.args
                yield path.relative_to(root.parent), node.lineno, args[0] if args else None


def test_every_error_in_the_core_is_raised_with_a_catalog_code():
    """No sentence where a code belongs: a message must exist in both languages."""
    import ast
    import re

    bad = []
    for path, line, arg in _raise_sites():
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if arg.value not in CATALOG or arg.value == "legacy.text":
                bad.append(f"{path}:{line} {arg.value[:60]!r}")
        elif isinstance(arg, ast.JoinedStr):  # f"config.rule.{x}": the fixed part must be a code prefix
            head = arg.values[0].value if arg.values and isinstance(arg.values[0], ast.Constant) else ""
            if not re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)*\.", head) or not any(c.startswith(head) for c in CATALOG):
                bad.append(f"{path}:{line} f-string {head!r}")
    assert not bad, bad
