"""ui.safe over a set of hostile strings: whatever comes in, the Markdown that goes out parses (with a
CommonMark parser plus GitHub's tables and strikethrough) to plain text equal to the input, and our
commands to code spans that hold exactly the command."""
from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from kb import KBError
from ui import safe

HOSTILE = [
    "![x](http://127.0.0.2:9/leak.png)",
    '<img src="http://127.0.0.2:9/raw.png">',
    "<script>alert(1)</script>",
    "[link](javascript:alert(1))",
    "# heading",
    "## 二级标题 ##",
    "*em* **strong** _u_ __uu__ ~~s~~",
    ":red[x] :material/home: :smile: :blue-badge[b]",
    "$x^2$ $$\\href{http://127.0.0.2/}{y}$$",
    "> quote",
    "- item",
    "+ item",
    "1. item",
    "1) item",
    "    indented code",
    "---",
    "heading\n===",
    "heading\n---",
    "<http://127.0.0.2/autolink>",
    "http://127.0.0.2/bare www.example.org a@example.org",
    "&lt;img src=x&gt; &#60;img&#62; &amp;",
    "| a | b |\n|---|---|\n| c | d |",
    '[ref]: http://127.0.0.2/ref "t"\n[ref]',
    "\\*not em\\* \\\\",
    "``code`` `x`",
    "！［全角］（http://127.0.0.2/）＜img＞",
    "tab\there",
    "windows\r\nline\rmac",
    "<!-- comment --> <div>block</div>",
    "```\nfenced\n```",
    "~~~\nfenced\n~~~",
    "a  \nb\\\nc",
    "~~~~",
    "llama runner: 500 ![x](http://127.0.0.2:9/leak.png) <img src=http://127.0.0.2:9/r.png>",
]
PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"])
PLAIN = {"text", "softbreak", "hardbreak"}
AUTOLINK = re.compile(r"(?i)https?://|www\.|@\w")


def _inline(md: str) -> list:
    """The inline tokens of `md`, asserting the blocks are paragraphs only (no heading, list, code, html...)."""
    tokens = PARSER.parse(md)
    kinds = {t.type for t in tokens}
    assert kinds <= {"paragraph_open", "paragraph_close", "inline"}, (md, kinds)
    return [child for t in tokens if t.type == "inline" for child in t.children or []]


def plain_text(md: str) -> str:
    out = []
    for child in _inline(md):
        assert child.type in PLAIN, (md, child.type)
        out.append("\n" if child.type != "text" else child.content)
    return "".join(out)


def normalised(text: str) -> str:
    """Line ends unified, lines stripped, the invisible word joiners of defuse_autolinks dropped."""
    text = text.replace(safe.WORD_JOINER, "")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.strip() for line in lines).strip()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_renders_exactly_the_input_and_nothing_else(hostile):
    md = safe.text(hostile)
    shown = plain_text(md)
    assert normalised(shown) == normalised(hostile)
    assert isinstance(md, safe.Markdown)
    assert not AUTOLINK.search(shown), shown  # what GitHub's autolink literals would turn into a link


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_message_shows_its_commands_as_code_and_the_rest_as_text(hostile):
    md = safe.message(f"{hostile} 运行 `python -m kb rebuild --kb notes` 再试")
    inline = _inline(md)
    codes = [c.content for c in inline if c.type == "code_inline"]
    assert codes[-1] == "python -m kb rebuild --kb notes"  # copies exactly: no backslashes
    assert all(c.type in PLAIN | {"code_inline"} for c in inline), [c.type for c in inline]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_fill_escapes_values_in_text_and_keeps_them_verbatim_in_commands(hostile):
    template = "无法读取 “{file}”：{reason}。运行 `python -m kb ingest \"{file}\" --kb {kb}`"
    md = safe.fill(template, {"file": hostile, "reason": hostile, "kb": "notes"}, template_is_markdown=False)
    inline = _inline(md)
    assert all(c.type in PLAIN | {"code_inline"} for c in inline), [c.type for c in inline]
    codes = [c.content for c in inline if c.type == "code_inline"]
    assert codes[-1] == f'python -m kb ingest "{" ".join(hostile.splitlines())}" --kb notes'


def test_fill_keeps_our_own_markdown_and_a_missing_value_visible():
    md = safe.fill("**{side}**：{n:.2f} {gone}", {"side": "<b>A</b>", "n": 0.5})
    inline = [c for c in _inline(md) if c.type != "text" or c.content]
    assert [c.type for c in inline][:3] == ["strong_open", "text", "strong_close"]
    assert inline[1].content == "<b>A</b>"
    shown = "".join(c.content for c in inline if c.type == "text")
    assert "0.50 {gone}" in shown


def test_markdown_values_are_inserted_as_they_are():
    inner = safe.message("x `ollama serve`")
    md = safe.fill("回答出错：{error}", {"error": inner})
    assert [c.content for c in _inline(md) if c.type == "code_inline"] == ["ollama serve"]


def test_code_span_holds_backticks_and_spaces_verbatim():
    for content in ("a`b", "``", " x ", "`x`", "a\nb"):
        inline = _inline(safe.code(content))
        assert [c.type for c in inline] == ["code_inline"]
        assert inline[0].content == content.replace("\n", " ")


def test_an_unpaired_backtick_is_shown_as_a_backtick():
    assert plain_text(safe.message("a ` b")) == "a ` b"


@pytest.mark.parametrize("lang, words", [("zh", "有效的知识库名称"), ("en", "valid knowledge base name")])
def test_kb_errors_render_in_the_language_asked_with_hostile_parameters(lang, words):
    exc = KBError("kb.name_invalid", name="![x](http://127.0.0.2/n.png)")
    md = safe.kb_message(exc, lang)
    assert words in plain_text(md) and "![x](http://127.0.0.2/n.png)" in normalised(plain_text(md))


def test_kb_error_commands_copy_correctly():
    exc = KBError("kb.document_not_found", kb="notes", key="<img src=x>")
    md = safe.kb_message(exc, "en")
    codes = [c.content for c in _inline(md) if c.type == "code_inline"]
    assert codes == ["python -m kb docs --kb notes"]
    assert "\\-" not in "".join(codes)


def test_an_unknown_code_still_renders_safely():
    class Future(Exception):
        code, params = "from.the.future", {"file": "<img src=x>"}

    md = safe.kb_message(Future(), "zh")
    assert all(c.type in PLAIN for c in _inline(md))
