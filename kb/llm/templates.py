"""Which chat template a model should use: its own, unless ours can do at least as much.

A registry model (qwen2.5:1.5b, qwen3:1.7b) carries its own Go TEMPLATE layer, and its GGUF carries
the chat template it was trained with (`tokenizer.chat_template`, Jinja). A Modelfile TEMPLATE replaces
the Go one. Ollama >= 0.30 (server/images.go `GetModel`, `shouldPreferChatTemplate`) then uses the
GGUF's chat template instead when that offers more capabilities than the Go TEMPLATE (tools, thinking),
and /api/show reports the selected template and its capabilities (routes.go `selectedModelTemplate`).
Older servers use whatever TEMPLATE the model has: a plain ChatML TEMPLATE there silently takes tools
and thinking away from qwen3.

So setup never sends a TEMPLATE with fewer capabilities than the base model's own (`choose_template`),
and where Ollama would use a GGUF file with only its autodetected ChatML (before 0.30), it sends the
template of the model's family (`FAMILY_TEMPLATES`, the Ollama library's qwen2.5 and qwen3 templates).

The capability rules are Ollama's: a Go template can do `tools` when it names `.Tools`, `insert` when
it names `.Suffix` (template.Vars), and `thinking` when `.Thinking` inside a range over `.Messages` sits
between an opening and a closing tag (thinking.InferTags); a Jinja chat template can do `tools` when it
mentions "tools" or "tool_call", `thinking` when it has both "<think>" and "</think>".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# What a template decides; completion, embedding, vision come from the GGUF and no template changes them.
TEMPLATE_CAPABILITIES = ("tools", "insert", "thinking")
CHAT_TEMPLATE_MINIMUM = (0, 30, 0)  # Ollama that prefers the GGUF's chat template (llama-server runner)
THINKING_MINIMUM = (0, 9, 0)        # Ollama whose templates know .Thinking / .Think / .IsThinkSet

_TOOLS = """
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}"""

_TOOL_TURNS = """{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}"""

# The Ollama library's qwen2.5 template: ChatML with tool calls and tool responses.
QWEN2_TEMPLATE = ("""{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}""" + _TOOLS + """
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
""" + _TOOL_TURNS + """
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}""")

# The Ollama library's qwen3 template: the same, plus the reasoning in <think> and `think: false` honoured.
QWEN3_TEMPLATE = ("""{{- $lastUserIdx := -1 -}}
{{- range $idx, $msg := .Messages -}}
{{- if eq $msg.Role "user" }}{{ $lastUserIdx = $idx }}{{ end -}}
{{- end }}
{{- if or .System .Tools }}<|im_start|>system
{{ if .System }}{{ .System }}
{{ end }}""" + _TOOLS.replace("{{- if .Tools }}\n", "{{- if .Tools }}", 1) + """
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if (and $.IsThinkSet (and .Thinking (or $last (gt $i $lastUserIdx)))) -}}
<think>{{ .Thinking }}</think>
{{ end -}}
""" + _TOOL_TURNS + """
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ if and $.IsThinkSet (not $.Think) -}}
<think>

</think>

{{ end -}}
{{ end }}
{{- end }}""")

FAMILY_TEMPLATES = {"qwen2": QWEN2_TEMPLATE, "qwen3": QWEN3_TEMPLATE}  # by GGUF general.architecture

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`')
_FIELD = re.compile(r"(?:\$\w*)?(?:\.[A-Za-z_]\w*)+")


def is_chat_template(text: str) -> bool:
    """A Jinja chat template (what /api/show returns when Ollama >= 0.30 uses the GGUF's own)."""
    return "{%" in text


def template_vars(text: str) -> set[str]:
    """template.Vars: every field and variable name the actions use, lower-cased (`.Function.Name` gives
    both parts; text outside {{ }} and quoted strings do not count)."""
    names: set[str] = set()
    for action in _ACTION.findall(text):
        for field in _FIELD.findall(_STRING.sub('""', action)):
            names.update(part.lower() for part in field.lstrip("$").split(".") if part)
    return names


def _infers_thinking_tags(text: str) -> bool:
    """thinking.InferTags, for the shape templates have: `{{ .Thinking }}` printed inside a range over
    .Messages with a tag right before it and right after it."""
    for match in re.finditer(r"\{\{-?\s*\.Thinking\s*-?\}\}", text):
        before, after = text[:match.start()], text[match.end():]
        if not re.search(r"\{\{-?\s*range[^}]*\.Messages", before):
            continue
        opening = before[before.rfind("}}") + 2:].strip()
        closing = after[:after.find("{{")] if "{{" in after else after
        if opening and closing.strip():
            return True
    return False


def go_template_capabilities(text: str) -> tuple[str, ...]:
    """server/images.go goTemplateCapabilities: tools, insert, thinking, in Ollama's order."""
    names = template_vars(text)
    caps = [c for c, ok in (("tools", "tools" in names), ("insert", "suffix" in names),
                            ("thinking", _infers_thinking_tags(text))) if ok]
    return tuple(caps)


def chat_template_capabilities(text: str) -> tuple[str, ...]:
    """server/images.go chatTemplateCapabilities for a GGUF's Jinja template."""
    caps = []
    if "tools" in text or "tool_call" in text:
        caps.append("tools")
    if "<think>" in text and "</think>" in text:
        caps.append("thinking")
    return tuple(caps)


def template_capabilities(text: str) -> tuple[str, ...]:
    return chat_template_capabilities(text) if is_chat_template(text) else go_template_capabilities(text)


@dataclass(frozen=True)
class TemplateChoice:
    """What setup sends as `template` (None: none, the base model's own stays) and why.

    `reason`: "none" (the Modelfile has no TEMPLATE), "ours" (ours can do all the base's can),
    "base" (ours dropped: it lacks `missing`), "family" (the family's template for a GGUF file).
    """

    template: str | None
    reason: str
    missing: tuple[str, ...] = ()


def choose_template(ours: str | None, base_capabilities: tuple[str, ...]) -> TemplateChoice:
    """Keep our TEMPLATE only when it has every template capability the base model's own has."""
    if not ours:
        return TemplateChoice(None, "none")
    have = set(go_template_capabilities(ours))
    missing = tuple(c for c in TEMPLATE_CAPABILITIES if c in base_capabilities and c not in have)
    if missing:
        return TemplateChoice(None, "base", missing)
    return TemplateChoice(ours, "ours")


def family_template(architecture: str | None, capabilities: tuple[str, ...],
                    version: tuple[int, ...] | None = None) -> str | None:
    """The family's template when the model as created lacks what that template can do, else None.

    An Ollama older than 0.9 cannot execute the qwen3 template (it names .Think): qwen3 then gets the
    qwen2.5 one, the same ChatML and tool calls without the reasoning. `version` None: a current one."""
    template = FAMILY_TEMPLATES.get(architecture or "")
    if template is None:
        return None
    if template is QWEN3_TEMPLATE and version is not None and version < THINKING_MINIMUM:
        template = QWEN2_TEMPLATE
    wanted = go_template_capabilities(template)
    return template if any(c not in capabilities for c in wanted) else None
