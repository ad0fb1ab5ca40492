"""Every message code the chat/Ollama/embedding modules raise is in the catalog, in both languages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.messages import CATALOG, render

from .conftest import REPO

FILES = ["kb/llm/ollama.py", "kb/llm/chat.py", "kb/llm/prompting.py", "kb/embedders.py", "kb/llm/sessions.py", "kb/llm/tokens.py",
         "kb/llm/deadlines.py"]
CODE = re.compile(r"""(?:Error|Unavailable|Missing|Timeout|Notice|_bad\(number,|code =)\s*\(?\s*f?["']([a-z_]+\.[a-z_.{}]+)["']""")


def codes_in(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    found = set(CODE.findall(text))
    found |= set(re.findall(r'"(modelfile\.[a-z_]+)"', text))
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_code_raised_here_is_in_the_catalog(name):
    for code in codes_in(REPO / name):
        expanded = [code.replace("{exc.phase}", p) for p in ("connect", "first_byte", "idle", "total")] \
            if "{" in code else [code]
        for c in expanded:
            assert c in CATALOG, f"{name}: {c}"


def test_no_sentence_is_raised_where_a_code_belongs():
    """Our errors take a code; only programming-contract errors (ValueError) and an internal sqlite3 signal
    carry a sentence, and neither reaches the user as such."""
    for name in FILES:
        lines = [line for line in (REPO / name).read_text(encoding="utf-8").splitlines()
                 if "ValueError(" not in line and "sqlite3.DatabaseError(" not in line]
        found = re.search(r"""(?:KBError|Error|Unavailable|Missing|Timeout)\(\s*f?["'][^"']*\s[^"']*["']""",
                          "\n".join(lines))
        assert not found, (name, found and found.group(0))


def test_ollama_text_is_a_parameter_shown_as_given():
    hostile = "![x](http://203.0.113.9/p.png) <img src=x> {num_ctx}"
    for lang in ("zh", "en"):
        text = render("ollama.http_error", {"status": 500, "error": hostile, "call": "/api/chat", "url": "u"}, lang)
        assert hostile in text
