"""Text from outside (documents, file names, Ollama) made safe for a terminal, and for JSON read in one.

A document can hold escape sequences: `\\x1b]8;;http://…\\x07` makes a link, `\\x1b[2J` clears the
screen, an OSC 52 sequence writes the clipboard, `\\r` overwrites what was printed, and a
right-to-left override reorders a line so it reads differently than it is. `kb chunks` printing
such a chunk raw hands the terminal to whoever wrote the document. `for_terminal` removes every
escape sequence and control character except newline and tab; it is applied to every line the CLI
prints as text. The --json output keeps the text as it is, escaped (`json_for_terminal`).
"""
from __future__ import annotations

import re

__all__ = ["for_terminal", "json_for_terminal"]

# Whole sequences first, so their parameters do not remain as litter ("[31m"); a string sequence
# (OSC, DCS, ...) is removed only up to a terminator within 4096 characters: an unterminated one
# loses just its introducer, never the rest of the document.
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clearing
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)"  # OSC (links, titles, clipboard), DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # other ESC sequences (charset switches, resets)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]{0,4096}(?:\x07|\x9c)"  # 8-bit string sequences
)
# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and isolates.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw but a terminal would act on.
_JSON_RAW = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def for_terminal(text: str) -> str:
    """`text` without escape sequences and control characters (newline and tab are kept)."""
    if text.isprintable() and "\x1b" not in text:
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def json_for_terminal(dumped: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with the raw controls it kept escaped.

    Those characters can only occur inside JSON strings, so `\\uXXXX` there is the same value:
    a script reading the output gets the text unchanged; a terminal showing it is not driven by it.
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
