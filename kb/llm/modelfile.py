"""Reading a Modelfile the way `ollama create` does, so `python -m kb model setup` sends the same request.

Two steps, as in Ollama's `parser` package: `parse_commands` is its ParseFile (a rune-by-rune state
machine: which text belongs to which instruction), `parse_modelfile` is its CreateRequest plus
api.FormatParams (what the instructions mean, typed parameters). Following the machine rather than
splitting lines is what makes the edge cases agree with Ollama:

- a value ends only at a line end where its quotes balance, so `\"\"\"` blocks span lines and keep their
  CR LF line ends as they are; `#` starts a comment only where an instruction could start;
- characters Go's strconv.IsPrint rejects (U+3000, zero-width spaces, controls other than tab and
  line ends) are dropped from names and values; Python's str.isprintable has the same rule;
- `PARAMETER` followed by two spaces reads an empty parameter name (Ollama then says "unknown
  parameter ''"), `MESSAGE` likewise an empty role;
- numbers follow Go's strconv: ASCII digits only (`４０９６` is not a number), no spaces, int64 and
  float32 ranges, `_` only between digits of a float; ±Inf and NaN are refused because Ollama's JSON
  encoder cannot send them either;
- UTF-8, or UTF-16 LE/BE with a byte-order mark (what Windows PowerShell's `>` and `Out-File` write).

Where Ollama's message would only say "unexpected EOF", ours names the line and the fix.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import ConfigError

log = logging.getLogger(__name__)

COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter",
            "message", "requires")
MESSAGE_ROLES = ("system", "user", "assistant")
# api.Options / api.Runner field types (the json tags FormatParams accepts).
PARAMETER_TYPES: dict[str, type] = {
    # runner (load-time) options
    "num_ctx": int, "num_batch": int, "num_gpu": int, "main_gpu": int, "num_thread": int, "use_mmap": bool,
    "draft_num_predict": int,
    # sampling options
    "num_keep": int, "seed": int, "num_predict": int, "top_k": int, "repeat_last_n": int,
    "temperature": float, "top_p": float, "min_p": float, "typical_p": float,
    "repeat_penalty": float, "presence_penalty": float, "frequency_penalty": float, "stop": list,
}
DEPRECATED_PARAMETERS = ("penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
                         "mirostat", "mirostat_tau", "mirostat_eta")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_GO_INT = re.compile(r"[+-]?[0-9]+")
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_GO_FLOAT = re.compile(rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?")
_HEX = r"[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
_GO_HEX_FLOAT = re.compile(rf"[+-]?0[xX]_?(?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DIGITS}")
_FLOAT32_MAX = 3.4028234663852886e38
_SEMVER = re.compile(r"v(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)"
                     r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?")

# ParseFile's states
_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)
_SPACE = " \t"
_NEWLINE = "\r\n"


@dataclass(frozen=True)
class Command:
    """One instruction as ParseFile reads it: `name` is "model" for FROM and the parameter's name for
    PARAMETER (as in Ollama); a MESSAGE's `args` is "role: text"; `line` is where the instruction starts."""

    name: str
    args: str
    line: int


@dataclass(frozen=True)
class ModelfileSpec:
    """What `ollama create` sends for a Modelfile. `from_` is the last FROM (a model name or a path, as
    written); `files` are further FROM paths (split GGUF shards); `parameters` are typed (stop is a list)."""

    from_: str
    template: str | None
    system: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    adapter: str | None = None
    license: tuple[str, ...] = ()
    messages: tuple[dict[str, str], ...] = ()
    requires: str | None = None
    from_all: tuple[str, ...] = ()


def _bad(line: int, code: str, **params: Any) -> ConfigError:
    return ConfigError(code, line=line, **params)


def decode(data: bytes) -> str:
    """The text of a Modelfile's bytes as Ollama reads them: a BOM picks UTF-8 or UTF-16 LE/BE, else UTF-8.

    Raises UnicodeDecodeError for bytes that are not UTF-8 (Ollama would substitute U+FFFD silently;
    a clear error naming the file is better than a garbled SYSTEM).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    return data.decode("utf-8")


def unquote(value: str) -> tuple[str, bool]:
    """parser.unquote: the text without its quotes, and whether the value is complete yet."""
    if value.startswith('"""'):
        return (value[3:-3], True) if len(value) >= 6 and value.endswith('"""') else ("", False)
    if value.startswith('"'):
        return (value[1:-1], True) if len(value) >= 2 and value.endswith('"') else ("", False)
    return value, True


def _step(ch: str, state: int) -> tuple[int, str | None, str | None]:
    """parseRuneForState: (next state, the character to keep or None, the error kind or None)."""
    if state == _NIL:
        if ch == "#":
            return _COMMENT, None, None
        if ch in _SPACE or ch in _NEWLINE:
            return _NIL, None, None
        return _NAME, ch, None
    if state == _NAME:
        if ch.isascii() and ch.isalpha():
            return _NAME, ch, None
        if ch in _SPACE:
            return _VALUE, None, None
        return _NIL, None, "name"
    if state == _VALUE:
        if ch in _NEWLINE or ch in _SPACE:
            return _NIL, ch, None
        return _VALUE, ch, None
    if state in (_PARAMETER, _MESSAGE):
        if ch.isascii() and (ch.isalpha() or (state == _PARAMETER and (ch.isdigit() or ch == "_"))):
            return state, ch, None
        if ch in _SPACE:
            return _VALUE, None, None
        return _NIL, None, "parameter" if state == _PARAMETER else "message"
    if ch in _NEWLINE:  # _COMMENT
        return _NIL, None, None
    return _COMMENT, None, None


def parse_commands(text: str) -> list[Command]:
    """Ollama's ParseFile over `text` (a leading BOM is ignored); raises ConfigError naming the line."""
    commands: list[Command] = []
    buf: list[str] = []
    state, name, role, line, start = _NIL, "", "", 1, 1
    previous = ""
    for ch in text.lstrip("\ufeff"):
        if previous == "\n" or (previous == "\r" and ch != "\n"):
            line += 1  # a CR LF pair is one line end (Ollama counts two)
        previous = ch
        nxt, keep, error = _step(ch, state)
        if error:
            raise _syntax_error(error, start, "".join(buf), ch)
        if nxt != state:
            if state == _NAME:
                word = "".join(buf)
                lowered = word.lower()
                if lowered not in COMMANDS:
                    raise _bad(start, "modelfile.unknown_instruction", name=repr(word))
                name = "model" if lowered == "from" else lowered
                nxt = {"parameter": _PARAMETER, "message": _MESSAGE}.get(lowered, nxt)
            elif state == _PARAMETER:
                name = "".join(buf)
            elif state == _MESSAGE:
                role = "".join(buf)
                if role not in MESSAGE_ROLES:
                    raise _bad(start, "modelfile.message_role", role=repr(role))
            elif state == _VALUE:
                value, complete = unquote("".join(buf).strip(" \t\r\n"))
                if not complete or ch in _SPACE:
                    buf.append(ch)
                    continue
                commands.append(Command(name, f"{role}: {value}" if role else value, start))
                role = ""
            buf = []
            state = nxt
            if state == _NAME:
                start = line
        if keep is not None and keep.isprintable():
            buf.append(keep)
    if state == _VALUE:
        value, complete = unquote("".join(buf).strip(" \t\r\n"))
        if not complete:
            raise _bad(start, "modelfile.unterminated_quote", instruction=_shown(name, role))
        commands.append(Command(name, f"{role}: {value}" if role else value, start))
    elif state in (_NAME, _PARAMETER, _MESSAGE):
        raise _syntax_error({_NAME: "name", _PARAMETER: "parameter", _MESSAGE: "message"}[state], start,
                            "".join(buf), "")
    return commands


def _shown(name: str, role: str) -> str:
    if role:
        return "MESSAGE"
    return name.upper() if name in COMMANDS else ("FROM" if name == "model" else "PARAMETER")


def _syntax_error(kind: str, line: int, word: str, ch: str) -> ConfigError:
    if kind == "name":
        if ch in ("", "\r", "\n") and word.lower() in COMMANDS:
            return _bad(line, "modelfile.empty_value", instruction=word.upper())
        return _bad(line, "modelfile.unreadable_line", text=repr((word + ch).strip()[:40]))
    if kind == "parameter":
        return _bad(line, "modelfile.parameter_syntax", text=repr(word))
    return _bad(line, "modelfile.message_syntax", text=repr(word))


def quote(value: str) -> str:
    """parser.quote: how Ollama writes a value back (`ollama show --modelfile`)."""
    if "\n" in value or value.startswith(" ") or value.endswith(" "):
        return f'"""{value}"""' if '"' in value else f'"{value}"'
    return value


def format_commands(commands: list[Command]) -> str:
    """Modelfile.String: the commands as Modelfile text that parse_commands reads back unchanged."""
    lines = []
    for cmd in commands:
        if cmd.name == "model":
            lines.append(f"FROM {cmd.args}")
        elif cmd.name == "message":
            role, _, text = cmd.args.partition(": ")
            lines.append(f"MESSAGE {role} {quote(text)}")
        elif cmd.name in COMMANDS:
            lines.append(f"{cmd.name.upper()} {quote(cmd.args)}")
        else:
            lines.append(f"PARAMETER {cmd.name} {quote(cmd.args)}")
    return "".join(line + "\n" for line in lines)


# -- what the instructions mean (CreateRequest) --------------------------------------------------------


def go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go fails (full-width digits, spaces, `_`, overflow)."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None


def go_float32(text: str) -> float | None:
    """strconv.ParseFloat(text, 32) for a finite value, or None (syntax, float32 overflow, Inf, NaN)."""
    if _GO_FLOAT.fullmatch(text):
        value = float(text.replace("_", ""))
    elif _GO_HEX_FLOAT.fullmatch(text):
        value = float.fromhex(text.replace("_", ""))
    else:
        return None
    return value if math.isfinite(value) and abs(value) <= _FLOAT32_MAX else None


def _typed_parameter(line: int, key: str, value: str) -> Any:
    kind = PARAMETER_TYPES[key]
    if kind is int:
        number = go_int(value)
        if number is None:
            raise _bad(line, "modelfile.parameter_int", name=key, value=repr(value))
        return number
    if kind is float:
        real = go_float32(value)
        if real is None:
            raise _bad(line, "modelfile.parameter_float", name=key, value=repr(value))
        return real
    if kind is bool:
        if value not in _GO_BOOLS:
            raise _bad(line, "modelfile.parameter_bool", name=key, value=repr(value))
        return _GO_BOOLS[value]
    return value


def _add_parameter(parameters: dict[str, Any], cmd: Command) -> None:
    if cmd.name in DEPRECATED_PARAMETERS:
        log.warning("modelfile_parameter_deprecated line=%d name=%s (Ollama ignores it)", cmd.line, cmd.name)
        return
    if cmd.name == "":
        raise _bad(cmd.line, "modelfile.parameter_empty_name", text=repr(cmd.args[:40]))
    if cmd.name not in PARAMETER_TYPES:
        raise _bad(cmd.line, "modelfile.unknown_parameter", name=cmd.name, valid=", ".join(sorted(PARAMETER_TYPES)))
    if cmd.name == "stop":
        parameters.setdefault("stop", []).append(cmd.args)
    else:
        parameters[cmd.name] = _typed_parameter(cmd.line, cmd.name, cmd.args)


def parse_modelfile(text: str) -> ModelfileSpec:
    """Read a Modelfile as `ollama create` would: the request it sends, or a ConfigError naming the line.

    FROM may repeat for the files of one model (split GGUF shards), as in Ollama; a second FROM that
    names a library model is refused (Ollama would silently keep only the last). ADAPTER takes one
    path; DRAFT, RENDERER and PARSER are read but not sent (the client has no field for them).
    """
    froms: list[Command] = []
    template: str | None = None
    system: str | None = None
    adapter: Command | None = None
    requires: str | None = None
    licenses: list[str] = []
    messages: list[dict[str, str]] = []
    parameters: dict[str, Any] = {}
    commands = parse_commands(text)
    if not any(cmd.name == "model" for cmd in commands):
        raise ConfigError("modelfile.no_from")  # ParseFile's check, before any instruction is read
    for cmd in commands:
        if cmd.name == "model":
            if not cmd.args:
                raise _bad(cmd.line, "modelfile.empty_value", instruction="FROM")
            if froms and not (_looks_like_path(cmd.args) and _looks_like_path(froms[0].args)):
                raise _bad(cmd.line, "modelfile.second_from", first=froms[0].line)
            froms.append(cmd)
        elif cmd.name == "template":
            template = cmd.args
        elif cmd.name == "system":
            system = cmd.args
        elif cmd.name == "license":
            licenses.append(cmd.args)
        elif cmd.name == "adapter":
            if not cmd.args:
                raise _bad(cmd.line, "modelfile.empty_value", instruction="ADAPTER")
            adapter = cmd
        elif cmd.name == "message":
            role, _, content = cmd.args.partition(": ")
            messages.append({"role": role, "content": content})
        elif cmd.name == "requires":
            requires = _requires(cmd)
        elif cmd.name in ("draft", "renderer", "parser"):
            log.warning("modelfile_ignored line=%d instruction=%s (not sent by `python -m kb model setup`)",
                        cmd.line, cmd.name.upper())
        else:
            _add_parameter(parameters, cmd)
    return ModelfileSpec(froms[-1].args, template, system, parameters, adapter.args if adapter else None,
                         tuple(licenses), tuple(messages), requires, tuple(c.args for c in froms))


def _requires(cmd: Command) -> str:
    version = cmd.args if cmd.args.startswith("v") else "v" + cmd.args
    if not _SEMVER.fullmatch(version):
        raise _bad(cmd.line, "modelfile.requires_semver", value=repr(cmd.args))
    return version[1:]


def system_of(text: str | None) -> str:
    """The SYSTEM of an installed model, from `ollama show`'s Modelfile ("" when absent or unreadable)."""
    system = ""
    try:
        for cmd in parse_commands(text or ""):
            if cmd.name == "system":
                system = cmd.args
    except ConfigError as exc:
        log.debug("show_modelfile_unreadable reason=%s", exc)
    return system


# -- files a Modelfile names ---------------------------------------------------------------------------


def _looks_like_path(value: str) -> bool:
    """A FROM that names a file (not a model such as qwen2.5:1.5b or hf.co/user/repo:Q4_K_M)."""
    return (value.startswith((".", "/", "~", "\\")) or re.match(r"[A-Za-z]:[\\/]", value) is not None
            or value.lower().endswith((".gguf", ".bin")))


def _expand(value: str, base_dir: Path) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base_dir / candidate


def resolve_from(value: str, base_dir: Path) -> Path | None:
    """The local file a FROM names (relative to the Modelfile, ~ expanded), or None for a model name."""
    candidate = _expand(value, base_dir)
    if candidate.is_dir():
        raise ConfigError("modelfile.from_folder", value=value)
    if candidate.is_file():
        return candidate
    if _looks_like_path(value):
        raise ConfigError("modelfile.from_missing", value=value, path=candidate)
    return None


def adapter_files(value: str, base_dir: Path) -> dict[str, Path]:
    """The files of an ADAPTER, by the name they get in /api/create `adapters`.

    A file (a GGUF LoRA) is sent under its base name; a folder (a PEFT safetensors adapter) sends its
    *.safetensors and *.json files under their names in the folder, as `ollama create` does.
    """
    path = _expand(value, base_dir)
    if path.is_file():
        return {path.name: path}
    if path.is_dir():
        files = {p.name: p for p in sorted(path.iterdir()) if p.is_file() and p.suffix in (".safetensors", ".json")}
        if not any(name.endswith(".safetensors") for name in files):
            raise ConfigError("modelfile.adapter_empty_folder", value=value, path=path)
        return files
    raise ConfigError("modelfile.adapter_missing", value=value, path=path)


def read_modelfile(path: Path) -> str:
    """The text of the Modelfile at `path` (UTF-8, or UTF-16 with a BOM); ConfigError naming the file."""
    try:
        return decode(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError("modelfile.not_found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("modelfile.unreadable", path=path, error=exc) from exc


def write_from(path: Path, value: str) -> str:
    """Point the Modelfile's FROM at `value` (e.g. "qwen3:1.7b"), changing nothing else; returns the old value.

    The file keeps its encoding (a UTF-16 file stays UTF-16 with its BOM) and its line ends, and is
    replaced atomically, so an interrupted write never leaves half a Modelfile.
    """
    path = Path(path)
    value = value.strip()
    if not value or any(ch in value for ch in "\r\n\"") or not value.isprintable():
        raise ConfigError("modelfile.from_value_invalid", value=repr(value[:80]))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("modelfile.not_found", path=path) from None
    except OSError as exc:
        raise ConfigError("modelfile.unreadable", path=path, error=exc) from exc
    bom, encoding = next(((b, e) for b, e in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                                                (b"\xfe\xff", "utf-16-be")) if data.startswith(b)), (b"", "utf-8"))
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise ConfigError("modelfile.unreadable", path=path, error=exc) from exc
    froms = [c for c in parse_commands(text) if c.name == "model"]
    if len(froms) != 1:
        raise ConfigError("modelfile.from_not_single", path=path, count=len(froms))
    parts = re.split(r"(\r\n|\r|\n)", text.lstrip("\ufeff"))
    index = 2 * (froms[0].line - 1)  # parts alternate line, line end
    if [(c.name, c.args) for c in parse_commands(parts[index])] != [("model", froms[0].args)]:
        raise ConfigError("modelfile.from_not_single", path=path, count=1)  # a FROM spread over lines
    indent = parts[index][:len(parts[index]) - len(parts[index].lstrip(" \t"))]
    parts[index] = f"{indent}FROM {value}"
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(bom + "".join(parts).encode(encoding))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError("modelfile.not_written", path=path, error=exc) from exc
    log.info("modelfile_from path=%s old=%s new=%s", path, froms[0].args, value)
    return froms[0].args
