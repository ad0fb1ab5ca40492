"""`python -m kb ...`: the same facade the pages call. Every command takes --json for scripts."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .config import Settings
from .errors import KBError
from .knowledge_base import IngestProgress, KnowledgeBase

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace, Settings], int]):
        COMMANDS[name] = fn
        return fn
    return register


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(text)


def _open(args: argparse.Namespace, settings: Settings, create: bool = False) -> KnowledgeBase:
    return KnowledgeBase.open(settings, args.kb, create=create)


class _Bar:
    """A tqdm progress bar on stderr, per file, advanced by embedding batches."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, p: IngestProgress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if p.stage == "reading":
            self.close()
            self.bar = tqdm(total=1, desc=f"[{p.file_index + 1}/{p.n_files}] {p.file_name[:40]}", unit="chunk",
                            file=sys.stderr, leave=False)
        elif self.bar is not None and p.stage == "embedding":
            self.bar.total = max(p.total, 1)
            self.bar.n = p.done
            self.bar.refresh()
        elif p.stage == "done":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@command("ingest")
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    with _open(args, settings, create=True) as kb:
        report = kb.ingest([Path(p) for p in args.files], progress=bar)
    bar.close()
    lines = []
    for f in report.files:
        detail = f"{f.n_chunks} chunks, {f.n_embedded} embedded" if f.status != "failed" else f.error
        lines.append(f"{f.status:>9}  {f.file_name}  ({detail})")
        lines += [f"{'':>9}  warning: {w}" for w in f.warnings]
    summary = ", ".join(f"{report.count(s)} {s}" for s in ("added", "replaced", "unchanged", "failed"))
    lines.append(f"{summary} in {report.seconds:.1f} s -> knowledge base '{report.kb}'")
    _out(args, report.to_dict(), "\n".join(lines))
    return 0 if report.ok else 1


@command("kbs")
def cmd_kbs(args: argparse.Namespace, settings: Settings) -> int:
    infos = KnowledgeBase.list_all(settings)
    text = "\n".join(f"{i.name:20} {i.n_documents:4} docs {i.n_chunks:6} chunks  {i.embedder}  "
                     f"{i.index_bytes / 1e6:.1f} MB" for i in infos) or \
        f"No knowledge bases in {settings.data_dir} yet: `python -m kb ingest FILES --kb notes`"
    _out(args, [i.to_dict() for i in infos], text)
    return 0


@command("docs")
def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        docs = kb.documents()
    text = "\n".join(f"{d.file_name:40} {d.kind:8} {d.n_chunks:4} chunks"
                     f"{'' if d.n_pages is None else f' {d.n_pages} pages'}  {d.ingested_at}"
                     + "".join(f"\n    warning: {w}" for w in d.warnings) for d in docs) or "No documents."
    _out(args, [d.to_dict() for d in docs], text)
    return 0


@command("chunks")
def cmd_chunks(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        chunks = kb.chunks(args.doc)
    text = "\n\n".join(f"#{c.position} {c.locator} ({len(c.text)} chars)\n{c.text}" for c in chunks)
    _out(args, [c.to_dict() for c in chunks], text or "No chunks.")
    return 0


@command("delete")
def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        doc = kb.delete(args.document)
    _out(args, doc.to_dict(), f"deleted {doc.file_name} ({doc.n_chunks} chunks) from '{args.kb}'")
    return 0


@command("check")
def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        report = kb.check()
    text = (f"{'OK' if report.ok else 'PROBLEMS'}: {report.n_documents} documents, {report.n_chunks} chunks, "
            f"{report.n_vectors} vectors" + "".join(f"\n  - {p}" for p in report.problems))
    _out(args, report.to_dict(), text)
    return 0 if report.ok else 1


@command("rebuild")
def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    report = KnowledgeBase.rebuild(settings, args.kb, progress=bar)
    bar.close()
    _out(args, report.to_dict(), f"rebuilt '{args.kb}' with {settings.embedder.name}: "
                                 f"{report.count('added')} documents, {report.count('failed')} failed")
    return 0 if report.ok else 1


@command("reindex")
def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    with _open(args, settings) as kb:
        report = kb.reindex(args.document, progress=bar)
    bar.close()
    _out(args, report.to_dict(), f"re-indexed {report.count('replaced')} document(s), {report.count('failed')} failed")
    return 0 if report.ok else 1


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    history = _read_history(args.history) if args.history else []
    with _open(args, settings) as kb:
        result = kb.search(args.query, history=history, mode=args.mode, k=args.k, threshold=args.threshold,
                           mmr=args.mmr, documents=args.doc or None)
    lines = [f"query: {result.retrieval_query}" + ("  (expanded with history)" if result.used_history else ""),
             f"terms: {' '.join(result.query_terms)}",
             f"gate: {'passed' if result.gate_passed else 'nothing relevant enough'} "
             f"(best dense {result.best_dense if result.best_dense is None else round(result.best_dense, 3)})"]
    for r in result.results:
        lines.append(f"\n#{r.fused_rank} {'✓' if r.passed else '·'} {r.chunk.locator}  fused={r.fused_score:.4f} "
                     f"dense={_f(r.dense_score)}(#{r.dense_rank or '-'}) bm25={_f(r.bm25_score)}(#{r.bm25_rank or '-'})"
                     f" terms={','.join(r.matched_terms)}")
        lines.append("   " + r.chunk.text.replace("\n", " ")[:200])
    _out(args, result.to_dict(), "\n".join(lines))
    return 0


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _read_history(path: str) -> list[dict[str, str]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KBError(f"Cannot read history file {path}: {exc}. It must be a JSON list of "
                      '{"role": "user"|"assistant", "content": "..."}') from exc
    if not isinstance(data, list) or not all(isinstance(t, dict) and "role" in t and "content" in t for t in data):
        raise KBError(f'History file {path} must be a JSON list of {{"role", "content"}} objects')
    return data


@command("eval")
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score one or several question sets (`questions.jsonl:KB ...`), each set and their mean.

    `--ablate NAME` turns one mechanism off (repeatable; `--ablate list` names them), so what a
    mechanism is worth shows on every set at once.
    """
    from .evaluate import EvalSpec, evaluate, format_report, format_table, load_items, mean_of
    from .retrieval import ABLATIONS

    if "list" in (args.ablate or []):
        _out(args, {name: desc for name, (_, _, desc) in ABLATIONS.items()},
             "\n".join(f"{name:<14} {desc}" for name, (_, _, desc) in ABLATIONS.items()))
        return 0
    if not args.sets:
        raise KBError("eval.no_sets")
    specs = [EvalSpec.parse(s, args.kb_given) for s in args.sets]
    reports = []
    for spec in specs:
        items = load_items(spec.path)
        with KnowledgeBase.open(settings, spec.kb, create=False) as kb:
            reports.append(evaluate(kb, items, mode=args.mode, k=args.k, ablate=args.ablate or ()))
    data = {"ablate": args.ablate or [], "sets": {s.label: r.to_dict() for s, r in zip(specs, reports)},
            "mean": mean_of(reports)}
    if len(specs) == 1 and not args.json:
        text = format_report(reports[0], docs_only=True)
    else:
        text = format_table([s.label for s in specs], reports)
    if args.ablate:
        text = f"ablated: {', '.join(args.ablate)}\n" + text
    _out(args, data if len(specs) > 1 or args.ablate else reports[0].to_dict(), text)
    return 0


@command("ask")
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        answer = None
        for event in kb.stream_answer(args.question, session=args.session, mode=args.mode):
            if args.json:
                if event.kind == "answer":
                    answer = event.answer
                continue
            if event.kind == "rewritten":
                print(f"(rewritten: {event.text})", file=sys.stderr)
            elif event.kind == "token":
                print(event.text, end="", flush=True)
            elif event.kind == "answer":
                answer = event.answer
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2, default=str))
        return 0 if not answer.error or answer.fallback else 1
    if answer.declined or answer.fallback:
        print(answer.text)
    else:
        print()
    if answer.error and not answer.fallback:
        print(f"error: {answer.error}", file=sys.stderr)
    cited = answer.used_citations or (answer.citations if answer.fallback else ())
    if cited:
        print("\nsources:")
        for c in cited:
            print(f"  [{c.n}] {c.chunk.locator}")
    if answer.budget:
        b = answer.budget
        print(f"\nbudget: {b.total}/{b.available} tokens (system {b.system}, sources {b.sources}, history {b.history}, "
              f"question {b.question}; num_ctx {b.num_ctx}, reserve {b.reserve})", file=sys.stderr)
    if answer.usage and answer.usage.prompt_tokens:
        u = answer.usage
        print(f"usage: first token {u.ttft_s} s, {u.tokens_per_s} tokens/s, prompt {u.prompt_tokens} "
              f"(Ollama's count), answer {u.answer_tokens}", file=sys.stderr)
    return 1 if answer.error and not answer.fallback else 0


@command("model")
def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from .factory import build_ollama_admin

    if args.action == "setup":
        last = {"status": None}

        def progress(p) -> None:
            if args.json:
                return
            if p.total:
                pct = 100 * (p.completed or 0) / p.total
                print(f"\r{p.status[:50]:50} {pct:5.1f}%", end="", file=sys.stderr, flush=True)
            elif p.status != last["status"]:
                print(f"\n{p.status}", end="", file=sys.stderr, flush=True)
            last["status"] = p.status

        with build_ollama_admin(settings, timeout=settings.ollama.timeout) as admin:
            admin.setup_model(settings.ollama.model, settings.ollama.modelfile, progress)
        print(file=sys.stderr)
        _out(args, {"model": settings.ollama.model, "created": True},
             f"created {settings.ollama.model} from {settings.ollama.modelfile}")
        return 0
    with build_ollama_admin(settings) as admin:
        st = admin.status(settings.ollama.model)
    lines = [f"Ollama at {st.url}: " + (f"running, version {st.version}" if st.reachable else f"NOT reachable: {st.error}")]
    if st.reachable:
        lines.append(f"models: {', '.join(st.models) or '(none)'}")
        lines.append(f"model {st.model}: " + ("present" if st.model_present else
                                               "missing - run `python -m kb model setup`"))
        if st.running:
            r = st.running
            lines.append(f"loaded: {r.placement}, context length {r.context_length}, "
                         f"{r.size / 2**30:.2f} GiB total, {r.size_vram / 2**30:.2f} GiB on the GPU")
        elif st.model_present:
            lines.append("not loaded right now (it loads on the first question)")
        if st.details:
            lines.append(f"Modelfile num_ctx {st.details.num_ctx}, trained context {st.details.context_length}")
    data = {"url": st.url, "reachable": st.reachable, "version": st.version, "models": list(st.models),
            "model": st.model, "model_present": st.model_present, "error": st.error,
            "running": None if not st.running else {"size": st.running.size, "size_vram": st.running.size_vram,
                                                    "gpu_fraction": st.running.gpu_fraction,
                                                    "placement": st.running.placement,
                                                    "context_length": st.running.context_length}}
    _out(args, data, "\n".join(lines))
    return 0 if st.reachable and st.model_present else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kb", description="KB Studio: a private knowledge base over your "
                                                                   "PDFs and Markdown notes.")
    p.add_argument("--config", help="settings file (default: ./config.toml, or KB_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print JSON for scripts")
        if name != "kbs":
            sp.add_argument("--kb", default=None, help="knowledge base name (default from config.toml)")
        return sp

    sp = add("ingest", "add or update files (PDF, Markdown, text)")
    sp.add_argument("files", nargs="+")
    sp.add_argument("--no-progress", action="store_true")
    add("kbs", "list knowledge bases")
    add("docs", "list the documents of a knowledge base")
    sp = add("chunks", "show the chunks of a knowledge base or of one document")
    sp.add_argument("--doc", help="file name or document id")
    sp = add("delete", "remove a document")
    sp.add_argument("document", help="file name or document id")
    add("check", "verify that database and indexes agree")
    sp = add("rebuild", "re-embed a knowledge base with the configured embedder (after changing it)")
    sp.add_argument("--no-progress", action="store_true")
    sp = add("reindex", "re-chunk and re-embed stored documents with the current settings")
    sp.add_argument("document", nargs="?", help="one document (default: all)")
    sp.add_argument("--no-progress", action="store_true")
    sp = add("search", "find the chunks that answer a question, with the score breakdown")
    sp.add_argument("query")
    sp.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    sp.add_argument("--k", type=int)
    sp.add_argument("--threshold", type=float, help="relevance gate: minimum dense cosine similarity")
    sp.add_argument("--mmr", action=argparse.BooleanOptionalAction, default=None, help="diversify results (MMR)")
    sp.add_argument("--doc", action="append", help="only search this document (repeatable)")
    sp.add_argument("--history", help='JSON file: a list of {"role","content"} earlier turns')
    from .retrieval import ABLATIONS

    sp = add("eval", "score retrieval on JSONL question sets: FILE --kb K, or FILE:KB FILE:KB ...")
    sp.add_argument("sets", nargs="*", metavar="FILE[:KB]", help="question set, optionally :knowledge base")
    sp.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    sp.add_argument("--k", type=int, default=10)
    sp.add_argument("--ablate", action="append", metavar="NAME",
                    help="turn one retrieval mechanism off (repeatable): " + ", ".join(ABLATIONS) +
                         "; `--ablate list` explains them")
    sp.add_argument("--docs-only", action="store_true", help="kept for old scripts: the gate is always reported")
    sp = add("ask", "ask a question; the answer streams, then its sources")
    sp.add_argument("question")
    sp.add_argument("--session", default="cli", help="conversation name (history is kept per name)")
    sp.add_argument("--mode", choices=["docs", "chat"], help="docs: only from sources (default); chat: may use "
                                                              "general knowledge")
    sp = add("model", "create the answer model in Ollama from the Modelfile, or show its status")
    sp.add_argument("action", choices=["setup", "status"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.load(args.config)
        args.kb_given = getattr(args, "kb", None)
        if getattr(args, "kb", None) is None and args.command != "kbs":
            args.kb = settings.storage.default_kb
        return COMMANDS[args.command](args, settings)
    except KBError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc), "type": exc.__class__.__name__}, ensure_ascii=False))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the knowledge base keeps its last committed state", file=sys.stderr)
        return 130
