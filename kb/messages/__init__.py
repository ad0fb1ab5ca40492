"""Message catalog: every user-facing error text of `kb/`, in Chinese and English.

An error is raised with a code and parameters (`StoreError("store.damaged", kb=name, ...)`); its
text is made here when it is shown, in the language asked for. The CLI's language is `KB_LANG`
(`zh` / `en`), otherwise the locale (`zh_*` is Chinese, anything else English); the app passes the
language of the session. The catalog is split by concern, one module each, so each part of the
core keeps its messages beside the others of its kind.

Rules for templates: the Chinese and the English text take the same `{placeholders}`; commands are
written between backticks (`python -m kb rebuild --kb {kb}`) so they render as code.
"""
from __future__ import annotations

import locale
import os
import string
from typing import Any, Mapping

from kb.messages import api, cli, config, core, ingest, llm, pdf, pg, search, store

LANGS = ("zh", "en")

CATALOG: dict[str, tuple[str, str]] = {}
for _part in (core, config, ingest, llm, pdf, search, store, cli, api, pg):
    _overlap = CATALOG.keys() & _part.MESSAGES.keys()
    if _overlap:
        raise RuntimeError(f"message codes defined twice: {sorted(_overlap)}")
    CATALOG.update(_part.MESSAGES)


def require_code(code: str) -> None:
    """Raise at the raise site (in tests: at once) when a code has no catalog entry."""
    if code not in CATALOG:
        raise LookupError(f"unknown message code {code!r}: add it to kb/messages/")


def current_lang() -> str:
    """`KB_LANG` when it is zh or en, else the locale's language (zh_* -> zh), else en."""
    wanted = os.environ.get("KB_LANG", "").strip().lower()
    if wanted in LANGS:
        return wanted
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "zh" if loc.lower().startswith("zh") else "en"


class _Params(dict):
    def __missing__(self, key: str) -> str:  # a template never fails to render for want of a value
        return "{" + key + "}"


def render(code: str, params: Mapping[str, Any] | None = None, lang: str | None = None) -> str:
    """The text of message `code` in `lang` (default: the process language)."""
    zh, en = CATALOG[code]
    template = en if (lang or current_lang()) == "en" else zh
    return string.Formatter().vformat(template, (), _Params(params or {}))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
