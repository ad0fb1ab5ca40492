"""`/docs`: the endpoints, drawn from the OpenAPI document on the server; no script, no CDN.

FastAPI's own /docs loads Swagger UI from a CDN, which would send every visit off this computer
(and show nothing offline), so it is turned off and this page is served instead. Every link is
relative; `/openapi.json` is the machine-readable document.
"""
from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2937}
h1{font-size:1.6rem}h2{font-size:1.1rem;margin:2rem 0 .3rem}code,pre{background:#f4f6fa;border-radius:4px}
code{padding:0 .25rem}pre{padding:.6rem;overflow:auto;font-size:13px}
.m{display:inline-block;min-width:4.5rem;font-weight:600;color:#2563eb}table{border-collapse:collapse}
td,th{border-bottom:1px solid #e3e7ee;padding:.2rem .6rem;text-align:left;vertical-align:top}
"""


def page(spec: dict[str, Any]) -> str:
    info = spec.get("info", {})
    parts = [f"<h1>{html.escape(info.get('title', 'API'))} <small>{html.escape(info.get('version', ''))}</small></h1>",
             f"<p>{html.escape(info.get('description', ''))}</p>",
             '<p>Machine-readable: <a href="openapi.json">openapi.json</a></p>']
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(_operation(spec, path, method, op))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
            + "".join(parts) + "</body></html>")


def _operation(spec: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> str:
    out = [f"<h2><span class=\"m\">{method.upper()}</span> <code>{html.escape(path)}</code></h2>",
           f"<p>{html.escape(op.get('summary', ''))}</p>"]
    params = op.get("parameters") or []
    if params:
        rows = "".join(f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{html.escape(p.get('in', ''))}</td>"
                       f"<td>{html.escape(p.get('description', '') or p.get('schema', {}).get('description', ''))}</td></tr>"
                       for p in params)
        out.append(f"<table><tr><th>parameter</th><th>in</th><th></th></tr>{rows}</table>")
    body = (op.get("requestBody") or {}).get("content") or {}
    for kind, content in body.items():
        schema = _resolve(spec, content.get("schema", {}))
        out.append(f"<p>Body (<code>{html.escape(kind)}</code>):</p><pre>{html.escape(_fields(spec, schema))}</pre>")
    return "".join(out)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    return schema


def _fields(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    if not props:
        return json.dumps(schema, indent=1)[:800]
    lines = []
    for name, prop in props.items():
        prop = _resolve(spec, prop)
        kind = prop.get("type") or " | ".join(str(_resolve(spec, a).get("type", _resolve(spec, a).get("title", "?")))
                                              for a in prop.get("anyOf", [])) or "object"
        note = prop.get("description", "")
        lines.append(f"{name}{'' if name in required else '?'}: {kind}{'  — ' + note if note else ''}")
    return "\n".join(lines)
