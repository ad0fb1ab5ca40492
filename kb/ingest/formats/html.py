"""HTML (.html/.htm) through the standard library's `html.parser`: text only, never executed.

Scripts, styles, templates, iframes, SVG and other non-content elements are dropped with
their contents; nothing is fetched (no images, stylesheets or links are followed). h1–h6 give
the heading path; paragraphs, list items and table rows become blocks. `unstructured`'s
`partition_html` would run its spaCy narrative-text check (a model download) on the same
input; the stdlib parser needs nothing and is tolerant of broken markup.
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from kb.errors import IngestError

_SKIP = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math", "head",
         "canvas", "select", "button"}
_BLOCK = {"p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "li", "ul", "ol",
          "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption", "form", "hr", "address", "details",
          "summary", "table", "caption", "body", "html"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_VOID = {"br", "img", "input", "meta", "link", "hr", "area", "base", "col", "source", "track", "wbr"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, tuple[str, ...], str]] = []
        self.path: list[tuple[int, str]] = []
        self.text: list[str] = []
        self.skip_depth = 0
        self.skip_stack: list[str] = []
        self.heading: int | None = None
        self.title = ""
        self.in_title = False
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.table: list[list[str]] = []
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP and tag not in _VOID:
            if tag == "head":
                self.skip_stack.append(tag)  # the <title> inside is still read below
            else:
                self.skip_depth += 1
                self.skip_stack.append(tag)
            return
        if tag == "title":
            self.in_title = True
        elif tag in _HEADINGS:
            self.flush()
            self.heading = _HEADINGS[tag]
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br":
            self.text.append("\n")
        elif tag == "pre":
            self.flush()
            self.pre += 1
        elif tag in _BLOCK:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if self.skip_stack and tag == self.skip_stack[-1]:
            self.skip_stack.pop()
            if tag != "head":
                self.skip_depth -= 1
            return
        if tag == "title":
            self.in_title = False
        elif tag in _HEADINGS and self.heading is not None:
            title = " ".join("".join(self.text).split())
            self.text.clear()
            level = self.heading
            self.heading = None
            if title:
                while self.path and self.path[-1][0] >= level:
                    self.path.pop()
                self.path.append((level, title))
        elif tag in ("td", "th") and self.cell is not None:
            if self.row is not None:
                self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table":
            self.flush_table()
        elif tag == "pre":
            self.flush(kind="code")
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.in_title:
            self.title += data
        elif self.skip_stack:  # other text in <head>
            return
        elif self.cell is not None:
            self.cell.append(data)
        else:
            self.text.append(data)

    def flush(self, kind: str = "text") -> None:
        raw = "".join(self.text)
        self.text.clear()
        if kind == "code":
            text = raw.strip("\n")
        else:
            text = "\n".join(" ".join(line.split()) for line in raw.split("\n") if line.strip())
        if text.strip():
            self.blocks.append((text, tuple(t for _, t in self.path), kind))

    def flush_table(self) -> None:
        from kb.ingest.formats.office import table_text

        self.flush()
        text = table_text(self.table)
        self.table = []
        if text:
            self.blocks.append((text, tuple(t for _, t in self.path), "table"))


def load_html(name: str, data: bytes):
    from kb.ingest.loaders import Block, LoadedFile, decode_text

    text = decode_text(name, data)
    reader = _Reader()
    reader.feed(text)
    reader.close()
    reader.flush()
    if reader.table:
        reader.flush_table()
    blocks = [Block(t, heading_path=h, kind=k) for t, h, k in reader.blocks]
    if not blocks:
        raise IngestError(name, "ingest.no_text", kind="HTML")
    title = " ".join(reader.title.split())
    return LoadedFile(name, "html", iter(blocks), metadata={"title": title} if title else {})
