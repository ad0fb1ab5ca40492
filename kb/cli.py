"""`python -m kb ...`: the same facade the pages call. Every command takes --json for scripts.

What it prints follows `KB_LANG` (zh / en), else the locale: its own strings come from
kb/messages/cli.py and errors render from their codes. Text output goes through
`kb.terminal.for_terminal` (documents and Ollama cannot drive the terminal); errors go to stderr
with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from kb.config import Settings, normalise_kb_name, parse_number
from kb.errors import ConfigError, KBError
from kb.knowledge_base import IngestProgress, KnowledgeBase
from kb.terminal import for_terminal, json_for_terminal
from kb.messages import render
from kb.search.textproc import use_data_dir

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {}


def command(name: str):
    def register(fn: Callable[[argparse.Namespace, Settings], int]):
        COMMANDS[name] = fn
        return fn
    return register


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(_dumps(data))
    else:
        _say(text)


def _t(code: str, **params: Any) -> str:
    """One of the CLI's own strings, in the process language (`KB_LANG`, else the locale)."""
    return render(code, params)


def _say(text: str = "", *, err: bool = False, end: str = "\n", flush: bool = False) -> None:
    """Print text for a person: every line the CLI shows goes through here (or `_out`), so no
    escape sequence from a document, a file name or Ollama ever reaches the terminal."""
    print(for_terminal(text), end=end, file=sys.stderr if err else sys.stdout, flush=flush)


def _dumps(data: Any) -> str:
    """JSON that any parser accepts (NaN and infinity become null), with raw controls escaped."""
    return json_for_terminal(json.dumps(_finite(data), ensure_ascii=False, indent=2, default=str, allow_nan=False))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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

        if p.stage == "waiting":
            print(f"waiting for another write to '{p.file_name or 'this knowledge base'}' to finish…", file=sys.stderr)
        elif p.stage == "reading":
            self.close()
            self.bar = tqdm(total=1, desc=for_terminal(f"[{p.file_index + 1}/{p.n_files}] {p.file_name[:40]}"), unit="chunk",
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
        detail = (_t("cli.ingest.detail", chunks=f.n_chunks, embedded=f.n_embedded) if f.status != "failed"
                  else f.error_message())
        lines.append(f"{_t(f'cli.status.{f.status}'):>9}  {f.file_name}  ({detail})")
        lines += [f"{'':>9}  {_t('cli.warning', text=w)}" for w in f.warnings]
    lines.append(_t("cli.ingest.summary", **{s: report.count(s) for s in ("added", "replaced", "unchanged", "failed")},
                    seconds=f"{report.seconds:.1f}", kb=report.kb))
    _out(args, report.to_dict(), "\n".join(lines))
    return 0 if report.ok else 1


@command("kbs")
def cmd_kbs(args: argparse.Namespace, settings: Settings) -> int:
    """Every knowledge base; a damaged one is listed with what is wrong (and the others still work)."""
    infos = KnowledgeBase.list_all(settings)
    lines = []
    for i in infos:
        if i.damaged:
            lines.append(_t("cli.kbs.damaged", name=f"{i.name:20}", problem=i.problem_message()))
        else:
            lines.append(_t("cli.kbs.line", name=f"{i.name:20}", docs=f"{i.n_documents:4}", chunks=f"{i.n_chunks:6}",
                            embedder=i.embedder, mb=f"{i.index_bytes / 1e6:.1f}"))
    text = "\n".join(lines) or _t("cli.kbs.none", folder=settings.data_dir)
    _out(args, [i.to_dict() for i in infos], text)
    return 0


@command("docs")
def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        docs = kb.documents()
    text = "\n".join(_t("cli.docs.line", name=f"{d.file_name:40}", kind=f"{d.kind:8}", chunks=f"{d.n_chunks:4}",
                        pages="" if d.n_pages is None else _t("cli.docs.pages", n=d.n_pages), when=d.ingested_at)
                     + "".join(f"\n    {_t('cli.warning', text=w)}" for w in d.warnings) for d in docs) \
        or _t("cli.docs.none")
    _out(args, [d.to_dict() for d in docs], text)
    return 0


@command("chunks")
def cmd_chunks(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        chunks = kb.chunks(args.doc)
    text = "\n\n".join(_t("cli.chunks.head", position=c.position, locator=c.locator, chars=len(c.text)) + "\n" + c.text
                       for c in chunks)
    _out(args, [c.to_dict() for c in chunks], text or _t("cli.chunks.none"))
    return 0


@command("chunk")
def cmd_chunk(args: argparse.Namespace, settings: Settings) -> int:
    """Curate one chunk by hand: disable, enable, edit its text, or add a chunk to a document."""
    if args.action in ("disable", "enable", "edit") and not args.id:
        raise KBError("cli.chunk.id_missing", action=args.action)
    if args.action == "add" and not args.doc:
        raise KBError("cli.chunk.doc_missing")
    if args.action in ("edit", "add") and args.text is None:
        raise KBError("cli.chunk.text_missing", action=args.action)
    with _open(args, settings) as kb:
        if args.action == "edit":
            state = kb.edit_chunk(args.id, args.text)
        elif args.action == "add":
            state = kb.add_chunk(args.doc, args.text)
        else:
            state = kb.disable_chunk(args.id, args.action == "disable")
    _out(args, state.to_dict(), _t(f"cli.chunk.{args.action}", id=state.chunk.id, locator=state.chunk.locator))
    return 0


@command("export")
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with KnowledgeBase.open(settings, args.kb, create=False) as kb:
        done = kb.export_archive(Path(args.output))
    _out(args, done.to_dict(), _t("cli.export.done", kb=done.kb, path=done.path, docs=done.n_documents,
                                  files=done.n_files, mb=f"{done.size_bytes / 1e6:.1f}", seconds=done.seconds))
    return 0


@command("import")
def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    done = KnowledgeBase.import_archive(settings, Path(args.archive), args.as_name, args.rebuild)
    _out(args, done.to_dict(), _t("cli.import.done", kb=done.kb, docs=done.n_documents, chunks=done.n_chunks,
                                  seconds=done.seconds))
    return 0


@command("sync")
def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Add new, replace changed and (--prune) remove gone files of a folder; --dry-run only lists them."""
    if args.watch is not None:
        return _watch(args, settings)
    bar = _Bar(enabled=not args.no_progress and not args.dry_run)
    with _open(args, settings, create=True) as kb:
        report = kb.sync(Path(args.folder), dry_run=args.dry_run, prune=args.prune, progress=bar)
    bar.close()
    _out(args, report.to_dict(), _sync_text(report))
    if report.cancelled:
        return 130
    return 0 if report.ok else 1


def _sync_text(report: Any) -> str:
    lines = [f"{_t(f'cli.sync.{i.action}'):>10}  {i.name}" + (f"  ({i.message()})" if i.code else "")
             for i in report.items if i.action != "unchanged"]
    counts = {a: report.count(a) for a in ("add", "replace", "unchanged", "remove", "duplicate", "skipped",
                                           "failed", "not_done")}
    lines.append(_t("cli.sync.summary_dry" if report.dry_run else "cli.sync.summary", kb=report.kb,
                    seconds=f"{report.seconds:.1f}", embedded=report.n_embedded, **counts))
    return "\n".join(lines)


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    """`sync --watch`: a round every N seconds, printed only when it changed something or says something
    new; Ctrl-C or SIGTERM stop it cleanly (SIGTERM lets the file being ingested finish first)."""
    import signal
    import threading
    import time

    if args.dry_run:
        raise KBError("cli.sync.watch_dry_run")
    stop = threading.Event()
    folder = Path(args.folder).expanduser()
    bar = _Bar(enabled=not args.no_progress)

    def on_round(r: Any) -> None:
        bar.close()
        if not r.changed:
            return
        if args.json:  # one JSON object a line, so a reader can follow the rounds as they come
            data = r.report.to_dict() if r.report else {"error": str(r.error), "code": r.error.code}
            print(json.dumps(_finite({"round": r.number, **data}), ensure_ascii=False, default=str), flush=True)
            return
        head = _t("cli.sync.watch_round", time=time.strftime("%H:%M:%S"), n=r.number)
        body = _sync_text(r.report) if r.report else _t("cli.sync.watch_gone", folder=folder)
        _say(f"{head}\n{body}", flush=True)

    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with _open(args, settings, create=True) as kb:
            if not args.json:
                _say(_t("cli.sync.watch_start", folder=folder, every=args.watch, kb=kb.name), flush=True)
            rounds = kb.watch(folder, args.watch, stop, on_round, prune=args.prune, progress=bar)
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()
    if not args.json:
        _say(_t("cli.sync.watch_stopped", n=rounds), flush=True)
    return 0


def _personal_eval(args: argparse.Namespace, settings: Settings) -> int:
    """`eval` without a file: the knowledge base's own question set (kb/search/questions.py), written out for `eval`."""
    from kb.search.questions import write_jsonl

    with _open(args, settings) as kb:
        path = write_jsonl(kb)
    try:
        args.sets = [str(path)]  # with --kb given, the set is scored on that knowledge base
        args.kb_given = args.kb
        return COMMANDS["eval"](args, settings)
    finally:
        path.unlink(missing_ok=True)


@command("digest")
def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        d = kb.digest(args.since, use_model=not args.no_model)
    lines = [_t("cli.digest.head", kb=d.kb, since=d.since, n=len(d.entries), edits=d.n_edits)]
    for e in d.entries:
        lines.append(f"{_t(f'cli.digest.{e.action}'):>6}  {e.file_name}  ({e.at}, "
                     + _t("cli.digest.chunks", n=e.n_chunks) + ")")
        if e.summary:
            lines.append(f"        {e.summary}")
    lines += [_t("cli.warning", text=render(n)) for n in d.notes]
    _out(args, d.to_dict(), "\n".join(lines))
    return 0


@command("delete")
def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    with _open(args, settings) as kb:
        doc = kb.delete(args.document)
    _out(args, doc.to_dict(), _t("cli.delete.done", file=doc.file_name, chunks=doc.n_chunks, kb=args.kb))
    return 0


@command("check")
def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Verify every file of a knowledge base; works on one too damaged to open."""
    report = KnowledgeBase.check_named(settings, args.kb)
    head = ("cli.check.empty" if report.empty else "cli.check.ok") if report.ok else "cli.check.problems"
    text = (_t(head, docs=report.n_documents, chunks=report.n_chunks, vectors=report.n_vectors)
            + "".join(f"\n  - {p.file}: {p.message()}\n    → {p.advice_message()}" for p in report.problems)
            + "".join(f"\n  · {p.file}: {p.message()} ({p.advice_message()})" for p in report.notes))
    _out(args, report.to_dict(), text)
    return 0 if report.ok else 1


@command("migrate")
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Copy a knowledge base from the embedded store into PostgreSQL, verified (kb/curate/migrate.py)."""
    from kb.curate.migrate import migrate_to_postgres

    url = args.url or settings.storage.url
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("config.rule.storage.url", key="--url", value=repr(url)[:80], origin=_ARG_ORIGIN)
    report = migrate_to_postgres(settings, normalise_kb_name(args.kb or settings.storage.default_kb), url)
    _out(args, report.to_dict(), _t("cli.migrate.done", kb=report.name, target=report.target,
                                    docs=report.n_documents, chunks=report.n_chunks, originals=report.n_originals))
    return 0


@command("repair")
def cmd_repair(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    report = KnowledgeBase.repair(settings, args.kb, progress=bar)
    bar.close()
    after = report.after
    lines = [f"- {m}" for m in report.action_messages()]
    lines.append(_t("cli.repair.ok" if after.ok else "cli.repair.still", docs=after.n_documents, chunks=after.n_chunks))
    lines += [f"  - {p.file}: {p.message()}\n    → {p.advice_message()}" for p in after.problems]
    _out(args, report.to_dict(), "\n".join(lines))
    return 0 if after.ok else 1


@command("rebuild")
def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    report = KnowledgeBase.rebuild(settings, args.kb, progress=bar)
    bar.close()
    _out(args, report.to_dict(), _t("cli.rebuild.done" if report.ok else "cli.rebuild.refused", kb=args.kb,
                                    embedder=settings.embedder.name, done=report.count("replaced") + report.count("kept"),
                                    kept=report.count("kept"), failed=report.count("failed"))
         + "".join(f"\n  - {f.file_name}: {f.error_message()}" for f in report.files if f.status == "failed"))
    return 0 if report.ok else 1


@command("reindex")
def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    bar = _Bar(enabled=not args.no_progress)
    with _open(args, settings) as kb:
        report = kb.reindex(args.document, progress=bar)
    bar.close()
    _out(args, report.to_dict(), _t("cli.reindex.done", replaced=report.count("replaced"),
                                    failed=report.count("failed")))
    return 0 if report.ok else 1


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    history = _read_history(args.history) if args.history else []
    with _open(args, settings) as kb:
        result = kb.search(args.query, history=history, mode=args.mode, k=args.k, threshold=args.threshold,
                           mmr=args.mmr, documents=args.doc or None)
    best = "-" if result.best_dense is None else round(result.best_dense, 3)
    lines = [_t("cli.search.query", query=result.retrieval_query)
             + (_t("cli.search.expanded") if result.used_history else ""),
             _t("cli.search.terms", terms=" ".join(result.query_terms)),
             _t("cli.search.gate_passed" if result.gate_passed else "cli.search.gate_failed", best=best)]
    for stage in result.stages:  # the model's second stage, when [retrieval] llm_rewrite / llm_rerank is on
        lines.append(_t(f"cli.search.stage_{stage.stage}", ms=round(stage.ms), queries=" | ".join(stage.queries),
                        moved=stage.moved) if stage.applied else stage.message())
    for r in result.results:
        was = f" (#{r.first_stage_rank})" if r.first_stage_rank else ""
        lines.append(f"\n#{r.fused_rank}{was} {'✓' if r.passed else '·'} {r.chunk.locator}  fused={r.fused_score:.4f} "
                     f"dense={_f(r.dense_score)}(#{r.dense_rank or '-'}) bm25={_f(r.bm25_score)}(#{r.bm25_rank or '-'})"
                     f" terms={','.join(r.matched_terms)}")
        lines.append("   " + r.chunk.text.replace("\n", " ")[:200])
    _out(args, result.to_dict(), "\n".join(lines))
    return 0


@command("explain")
def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """Why the chunk the user expected is, or is not, among a question's results."""
    history = _read_history(args.history) if args.history else []
    with _open(args, settings) as kb:
        ex = kb.explain(args.query, args.expect, history=history, mode=args.mode, k=args.k,
                        documents=args.doc or None)
    lines = [_t("cli.search.query", query=ex.result.retrieval_query),
             _t("cli.search.terms", terms=" ".join(ex.result.query_terms))]
    for e in ex.targets:
        lines += [f"\n{e.chunk.locator}  ({e.chunk.id})", "   " + e.message(),
                  "   " + _t("cli.explain.scores", dense=_f(e.dense_score), dense_rank=e.dense_rank or "-",
                               bm25=_f(e.bm25_score), bm25_rank=e.bm25_rank or "-",
                               matched=",".join(e.matched_terms) or "-")]
        if e.lacking_terms:
            lines.append("   " + _t("cli.explain.lacking", terms=", ".join(
                f"{t}({idf:.1f}{'' if df else ', 0'})" for t, idf, df in e.lacking_terms[:8])))
    _out(args, ex.to_dict(), "\n".join(lines))
    return 0


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _read_history(path: str) -> list[dict[str, str]]:
    """Earlier turns from a JSON file; the core validates them (kb.llm.prompting.validate_history)."""
    from kb.llm.prompting import validate_history

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise KBError("cli.history.unreadable", path=path, reason=exc.strerror or exc) from exc
    except ValueError as exc:  # not UTF-8, or not JSON
        raise KBError("cli.history.unreadable", path=path, reason=exc) from exc
    return validate_history(data, source=path)


@command("eval")
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score one or several question sets (`questions.jsonl:KB ...`), each set and their mean.

    `--ablate NAME` turns one mechanism off (repeatable; `--ablate list` names them), so what a
    mechanism is worth shows on every set at once.
    """
    from kb.search.evaluate import EvalSpec, evaluate, format_report, format_table, load_items, mean_of
    from kb.search.retrieval import ABLATIONS

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
                _say(_t("cli.ask.rewritten", text=event.text), err=True)
            elif event.kind == "token":
                _say(event.text, end="", flush=True)
            elif event.kind == "answer":
                answer = event.answer
    assert answer is not None
    if args.json:
        print(_dumps(answer.to_dict()))
        return 0 if not answer.error or answer.fallback else 1
    if answer.declined or answer.fallback:
        _say(answer.text)
    else:
        _say()
    for notice in answer.notices:  # question cut, answer capped, history not saved
        _say(_t("cli.notice", text=notice.message()), err=True)
    if answer.error and not answer.fallback:
        _say(_t("cli.error", text=answer.error), err=True)
    cited = answer.used_citations or (answer.citations if answer.fallback else ())
    if cited:
        _say("\n" + _t("cli.ask.sources"))
        for c in cited:
            _say(f"  [{c.n}] {c.chunk.locator}")
    if answer.budget:
        b = answer.budget
        _say("\n" + _t("cli.ask.budget", total=b.total, available=b.available, system=b.system, sources=b.sources,
                       history=b.history, question=b.question, num_ctx=b.num_ctx, reserve=b.reserve), err=True)
    if answer.usage and answer.usage.prompt_tokens:
        u = answer.usage
        _say(_t("cli.ask.usage", ttft=u.ttft_s, rate=u.tokens_per_s, prompt=u.prompt_tokens, answer=u.answer_tokens),
             err=True)
    return 1 if answer.error and not answer.fallback else 0


@command("serve")
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """The HTTP API (kb/api/): refuses to listen beyond loopback without [api] tokens."""
    from kb.api import serve

    serve(settings, args.host, args.port,
          announce=lambda url: _say(_t("cli.serve.listening", url=url, auth=_t(
              "cli.serve.auth_tokens" if settings.api.tokens else "cli.serve.auth_loopback")), err=True),
          log_level="info" if args.verbose else "warning")
    return 0


@command("model")
def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from kb.factory import build_ollama_admin

    if args.action == "fit":
        return _model_fit(args, settings)
    if args.action == "ps":
        return _model_ps(args, settings)
    if args.action == "setup":
        if args.from_:
            from kb.llm.modelfile import write_from

            old = write_from(settings.ollama.modelfile, args.from_)
            _say(_t("cli.model.from_written", modelfile=settings.ollama.modelfile, old=old, new=args.from_),
                 err=True)
        last = {"status": None}

        def progress(p) -> None:
            if args.json:
                return
            if p.total:
                pct = 100 * (p.completed or 0) / p.total
                sys.stderr.write("\r")  # the progress line rewrites itself; the status text cannot
                _say(f"{p.status[:50]:50} {pct:5.1f}%", end="", err=True, flush=True)
            elif p.status != last["status"]:
                _say(f"\n{p.status}", end="", err=True, flush=True)
            last["status"] = p.status

        with build_ollama_admin(settings, timeout=settings.ollama.timeout) as admin:
            admin.setup_model(settings.ollama.model, settings.ollama.modelfile, progress,
                              num_gpu=settings.ollama.num_gpu if args.num_gpu is None else args.num_gpu)
        print(file=sys.stderr)
        _out(args, {"model": settings.ollama.model, "created": True},
             _t("cli.model.created", model=settings.ollama.model, modelfile=settings.ollama.modelfile))
        return 0
    with build_ollama_admin(settings) as admin:
        st = admin.status(settings.ollama.model)
    lines = [_t("cli.model.running", url=st.url, version=st.version) if st.reachable
             else _t("cli.model.unreachable", url=st.url, error=st.error)]
    if st.reachable:
        lines.append(_t("cli.model.models", models=", ".join(st.models) or _t("cli.model.no_models")))
        lines.append(_t("cli.model.present" if st.model_present else "cli.model.missing", model=st.model))
        if st.running:
            r = st.running
            where = _t(f"ollama.placement.{r.layout.kind}", gpu=r.layout.gpu_percent, cpu=r.layout.cpu_percent)
            lines.append(_t("cli.model.loaded", placement=r.placement, where=where, context=r.context_length,
                            total=f"{r.size / 2**30:.2f}", vram=f"{r.size_vram / 2**30:.2f}"))
        elif st.model_present:
            lines.append(_t("cli.model.not_loaded"))
        if st.details:
            lines.append(_t("cli.model.details", num_ctx=st.details.num_ctx, trained=st.details.context_length))
            lines.append(_t("cli.model.capabilities", capabilities=", ".join(st.details.capabilities) or "—",
                            source=_t(f"cli.model.template.{st.details.template_source}")))
    data = {"url": st.url, "reachable": st.reachable, "version": st.version, "models": list(st.models),
            "model": st.model, "model_present": st.model_present, "error": st.error,
            "capabilities": list(st.details.capabilities) if st.details else None,
            "template_source": st.details.template_source if st.details else None,
            "running": None if not st.running else {"size": st.running.size, "size_vram": st.running.size_vram,
                                                    "gpu_fraction": st.running.gpu_fraction,
                                                    "placement": st.running.placement,
                                                    "layout": st.running.layout.kind,
                                                    "gpu_percent": st.running.layout.gpu_percent,
                                                    "context_length": st.running.context_length}}
    _out(args, data, "\n".join(lines))
    return 0 if st.reachable and st.model_present else 1


def _placement_data(r: Any) -> dict[str, Any]:
    layout = r.layout
    return {"name": r.name, "size": r.size, "size_vram": r.size_vram, "placement": layout.kind,
            "gpu_percent": layout.gpu_percent, "cpu_percent": layout.cpu_percent, "processor": r.placement,
            "context_length": r.context_length, "expires_at": r.expires_at}


def _model_ps(args: argparse.Namespace, settings: Settings) -> int:
    """`model ps`: what Ollama has loaded and where its layers went (/api/ps), as `ollama ps` shows it."""
    from kb import KnowledgeBase

    loaded = KnowledgeBase.loaded_models(settings)
    lines = [_t("cli.model.ps_line", name=r.name, total=f"{r.size / 2**30:.2f}", vram=f"{r.size_vram / 2**30:.2f}",
                where=_t(f"ollama.placement.{r.layout.kind}", gpu=r.layout.gpu_percent, cpu=r.layout.cpu_percent),
                context=r.context_length or "—", until=r.expires_at or "—") for r in loaded]
    if settings.ollama.num_gpu is not None:
        lines.append(_t("cli.model.num_gpu_set", num_gpu=settings.ollama.num_gpu))
    _out(args, {"models": [_placement_data(r) for r in loaded], "num_gpu": settings.ollama.num_gpu},
         "\n".join(lines) or _t("cli.model.ps_none"))
    return 0


def _model_fit(args: argparse.Namespace, settings: Settings) -> int:
    """`model fit [NAME]`: will it fit on this GPU at --num-ctx, before anything is downloaded."""
    from kb.llm.fit import FITS, GIB, fit_for

    report = fit_for(settings, [args.name] if args.name else None, num_ctx=args.num_ctx, vram_gib=args.vram)
    gpu = report.gpu
    lines = [_t("cli.fit.gpu", free=f"{gpu.free / GIB:.2f}", source=gpu.source,
                total="" if gpu.total is None else _t("cli.fit.total", total=f"{gpu.total / GIB:.2f}"))]
    for r in report.results:
        verdict = _t(f"cli.fit.{r.verdict}", on_gpu=r.gpu_layers, layers=r.layers)
        largest = (_t("cli.fit.max_context", max_context=r.max_context) if r.max_context
                   else _t("cli.fit.no_context"))
        lines.append(_t("cli.fit.line", model=r.model, needed=f"{r.estimate.total / GIB:.2f}",
                        num_ctx=r.estimate.num_ctx, verdict=verdict, largest=largest,
                        installed=_t("cli.fit.installed") if r.installed else ""))
    if report.ollama_error:
        lines.append(_t("cli.fit.table_only", error=report.ollama_error))
    lines.append(_t("cli.fit.choose"))
    _out(args, report.as_dict(), "\n".join(lines))
    return 0 if not args.name or report.results[0].verdict == FITS else 1


def _number(flag: str, *, integer: bool = False, low: float, high: float, rule: str) -> Callable[[str], Any]:
    """An argparse type for a finite number in [low, high]; a bad value is a coded `ConfigError`.

    argparse lets a `KBError` raised by a type function through (it only catches ValueError and
    TypeError), so `main` reports it like any other error: in the user's language, exit 2.
    """
    def parse(text: str) -> int | float:
        value = parse_number(text, integer=integer, key=flag, origin=_ARG_ORIGIN)
        if not low <= value <= high:
            raise ConfigError(f"config.rule.{rule}", key=flag, value=repr(text)[:80], origin=_ARG_ORIGIN)
        return value
    return parse


_ARG_ORIGIN = "python -m kb"
_WRITERS = ("ingest", "delete", "reindex", "rebuild", "repair", "chunk", "import", "sync")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kb", description=_t("cli.help.description"))
    p.add_argument("--config", help=_t("cli.help.config"))
    p.add_argument("-v", "--verbose", action="store_true", help=_t("cli.help.verbose"))
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=_t(f"cli.help.{name}"))
        sp.add_argument("--json", action="store_true", help=_t("cli.help.json"))
        if name != "kbs":
            sp.add_argument("--kb", default=None, help=_t("cli.help.kb"))
        return sp

    k = _number("--k", integer=True, low=1, high=100, rule="retrieval.k")
    sp = add("ingest")
    sp.add_argument("files", nargs="+", help=_t("cli.help.files"))
    sp.add_argument("--no-progress", action="store_true", help=_t("cli.help.no_progress"))
    add("kbs")
    add("docs")
    sp = add("chunks")
    sp.add_argument("--doc", help=_t("cli.help.document"))
    sp = add("chunk")
    sp.add_argument("action", choices=["disable", "enable", "edit", "add"], help=_t("cli.help.chunk_action"))
    sp.add_argument("id", nargs="?", help=_t("cli.help.chunk_id"))
    sp.add_argument("--text", help=_t("cli.help.chunk_text"))
    sp.add_argument("--doc", help=_t("cli.help.document"))
    sp = add("sync")
    sp.add_argument("folder", help=_t("cli.help.sync_folder"))
    sp.add_argument("--dry-run", action="store_true", help=_t("cli.help.dry_run"))
    sp.add_argument("--prune", action="store_true", help=_t("cli.help.prune"))
    sp.add_argument("--watch", metavar="SECONDS", type=_number("--watch", low=0.5, high=86400, rule="sync.watch"),
                    help=_t("cli.help.watch"))
    sp.add_argument("--no-progress", action="store_true", help=_t("cli.help.no_progress"))
    sp = add("digest")
    sp.add_argument("--since", default="24h", help=_t("cli.help.since"))
    sp.add_argument("--no-model", action="store_true", help=_t("cli.help.no_model"))
    sp = add("export")
    sp.add_argument("-o", "--output", required=True, help=_t("cli.help.export_output"))
    sp = sub.add_parser("import", help=_t("cli.help.import"))
    sp.add_argument("--json", action="store_true", help=_t("cli.help.json"))
    sp.add_argument("archive", help=_t("cli.help.archive"))
    sp.add_argument("--as", dest="as_name", help=_t("cli.help.as_name"))
    sp.add_argument("--rebuild", action="store_true", help=_t("cli.help.import_rebuild"))
    sp = add("delete")
    sp.add_argument("document", help=_t("cli.help.document"))
    add("check")
    sp = add("migrate")
    sp.add_argument("--to", required=True, choices=["postgres"], help=_t("cli.help.migrate_to"))
    sp.add_argument("--url", help=_t("cli.help.migrate_url"))
    sp = add("repair")
    sp.add_argument("--no-progress", action="store_true", help=_t("cli.help.no_progress"))
    sp = add("rebuild")
    sp.add_argument("--no-progress", action="store_true", help=_t("cli.help.no_progress"))
    sp = add("reindex")
    sp.add_argument("document", nargs="?", help=_t("cli.help.reindex_document"))
    sp.add_argument("--no-progress", action="store_true", help=_t("cli.help.no_progress"))
    sp = add("search")
    sp.add_argument("query", help=_t("cli.help.query"))
    sp.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=_t("cli.help.mode"))
    sp.add_argument("--k", type=k, help=_t("cli.help.k"))
    sp.add_argument("--threshold", type=_number("--threshold", low=-1, high=1, rule="retrieval.threshold"),
                    help=_t("cli.help.threshold"))
    sp.add_argument("--mmr", action=argparse.BooleanOptionalAction, default=None, help=_t("cli.help.mmr"))
    sp.add_argument("--doc", action="append", help=_t("cli.help.only_doc"))
    sp.add_argument("--history", help=_t("cli.help.history"))
    sp = add("explain")
    sp.add_argument("query", help=_t("cli.help.query"))
    sp.add_argument("--expect", required=True, help=_t("cli.help.expect"))
    sp.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=_t("cli.help.mode"))
    sp.add_argument("--k", type=k, help=_t("cli.help.k"))
    sp.add_argument("--doc", action="append", help=_t("cli.help.only_doc"))
    sp.add_argument("--history", help=_t("cli.help.history"))
    from kb.search.retrieval import ABLATIONS

    sp = add("eval")
    sp.add_argument("sets", nargs="*", metavar="FILE[:KB]", help=_t("cli.help.eval_sets"))
    sp.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=_t("cli.help.mode"))
    sp.add_argument("--k", type=k, default=10, help=_t("cli.help.k"))
    sp.add_argument("--ablate", action="append", metavar="NAME",
                    help=_t("cli.help.ablate", names=", ".join(ABLATIONS)))
    sp.add_argument("--docs-only", action="store_true", help=_t("cli.help.docs_only"))
    sp = add("ask")
    sp.add_argument("question", help=_t("cli.help.question"))
    sp.add_argument("--session", default="cli", help=_t("cli.help.session"))
    sp.add_argument("--mode", choices=["docs", "chat"], help=_t("cli.help.ask_mode"))
    sp = add("model")
    sp.add_argument("action", choices=["setup", "status", "fit", "ps"], help=_t("cli.help.action"))
    sp.add_argument("name", nargs="?", help=_t("cli.help.fit_name"))
    sp.add_argument("--vram", type=_number("--vram", low=0.25, high=1024, rule="fit.vram"),
                    help=_t("cli.help.vram"))
    sp.add_argument("--num-ctx", type=_number("--num-ctx", integer=True, low=256, high=1 << 20, rule="fit.num_ctx"),
                    help=_t("cli.help.num_ctx"))
    sp.add_argument("--num-gpu", type=_number("--num-gpu", integer=True, low=-1, high=1024, rule="fit.num_gpu"),
                    help=_t("cli.help.num_gpu"))
    sp.add_argument("--from", dest="from_", metavar="MODEL", help=_t("cli.help.from"))
    sp = sub.add_parser("serve", help=_t("cli.help.serve"))
    sp.add_argument("--host", default="127.0.0.1", help=_t("cli.help.host"))
    sp.add_argument("--port", type=_number("--port", integer=True, low=0, high=65535, rule="api.port"), default=8000,
                    help=_t("cli.help.port"))
    return p


class _TerminalFormatter(logging.Formatter):
    """Log lines name files and quote Ollama: they reach the terminal through `for_terminal` too."""

    def format(self, record: logging.LogRecord) -> str:
        return for_terminal(super().format(record))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = argparse.Namespace(json="--json" in argv, command=None)
    try:
        args = build_parser().parse_args(argv)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s %(message)s"))
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, handlers=[handler])
        settings = Settings.load(args.config)
        use_data_dir(settings.data_dir)  # jieba's cache under data_dir, never the shared /tmp
        args.kb_given = getattr(args, "kb", None)
        if getattr(args, "kb", None) is None and args.command not in ("kbs", "import"):
            args.kb = settings.storage.default_kb
        if getattr(args, "kb", None) is not None:
            args.kb = normalise_kb_name(args.kb)  # `ｎｏｔｅｓ` and `notes` are one knowledge base
        if args.command in _WRITERS:
            settings.require_writable_data_dir()  # a clear message now, not a traceback mid-batch
        if args.command == "eval" and not args.sets and "list" not in (args.ablate or []):
            return _personal_eval(args, settings)  # no file: the knowledge base's own question set
        return COMMANDS[args.command](args, settings)
    except KBError as exc:
        if getattr(args, "json", False):
            print(_dumps({"error": str(exc), "type": exc.__class__.__name__, "code": exc.code,
                          "params": exc.params}))
        _say(_t("cli.error", text=str(exc)), err=True)
        return 2
    except KeyboardInterrupt:
        _say(_t("cli.interrupted"), err=True)
        return 130
    except BrokenPipeError:  # `python -m kb chunks | head`: the reader left; nothing more to say
        sys.stdout = open(os.devnull, "w")  # so the interpreter's final flush does not raise again
        return 141
    except Exception as exc:  # a bug, not a bad input: say so in one line; -v shows the traceback
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        if getattr(args, "json", False):
            print(_dumps({"error": str(exc), "type": exc.__class__.__name__, "code": "cli.unexpected"}))
        _say(_t("cli.unexpected", kind=exc.__class__.__name__, text=str(exc)[:500]), err=True)
        if getattr(args, "verbose", False):
            import traceback

            _say(traceback.format_exc(), err=True)
        return 70
