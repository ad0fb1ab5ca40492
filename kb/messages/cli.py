"""What `python -m kb` itself says: report lines, labels, help. Errors come from the other catalogs."""

MESSAGES: dict[str, tuple[str, str]] = {
    "cli.error": ("错误：{text}", "error: {text}"),
    "cli.warning": ("警告：{text}", "warning: {text}"),
    "cli.unexpected": (
        "内部错误（{kind}：{text}）：这是 KB Studio 的缺陷，不是你的输入有问题。加上 `-v` 重新运行可以看到详细信息，"
        "例如 `python -m kb -v ...`",
        "internal error ({kind}: {text}): a bug in KB Studio, not a problem with your input. Run again with `-v` "
        "to see the details, e.g. `python -m kb -v ...`"),
    "cli.interrupted": ("已中断：知识库保留最后一次提交的状态", "interrupted: the knowledge base keeps its last committed state"),
    # ingest
    "cli.status.added": ("新增", "added"),
    "cli.status.replaced": ("替换", "replaced"),
    "cli.status.unchanged": ("未变", "unchanged"),
    "cli.status.failed": ("失败", "failed"),
    "cli.status.kept": ("保留", "kept"),
    "cli.ingest.detail": ("{chunks} 个片段，新嵌入 {embedded} 个", "{chunks} chunks, {embedded} embedded"),
    "cli.ingest.summary": (
        "新增 {added}，替换 {replaced}，未变 {unchanged}，失败 {failed}，用时 {seconds} 秒 -> 知识库 “{kb}”",
        "{added} added, {replaced} replaced, {unchanged} unchanged, {failed} failed in {seconds} s -> "
        "knowledge base '{kb}'"),
    # listing
    "cli.kbs.line": ("{name}  {docs} 个文档  {chunks} 个片段  {embedder}  {mb} MB",
                     "{name}  {docs} docs  {chunks} chunks  {embedder}  {mb} MB"),
    "cli.kbs.none": ("{folder} 中还没有知识库：导入文件即可创建，例如 `python -m kb ingest FILES --kb notes`",
                     "No knowledge bases in {folder} yet: `python -m kb ingest FILES --kb notes`"),
    "cli.docs.line": ("{name}  {kind}  {chunks} 个片段{pages}  {when}", "{name}  {kind}  {chunks} chunks{pages}  {when}"),
    "cli.docs.pages": ("，{n} 页", ", {n} pages"),
    "cli.docs.none": ("没有文档。", "No documents."),
    "cli.chunks.head": ("#{position} {locator}（{chars} 个字符）", "#{position} {locator} ({chars} chars)"),
    "cli.chunks.none": ("没有片段。", "No chunks."),
    # writing
    "cli.delete.done": ("已从 “{kb}” 删除 {file}（{chunks} 个片段）", "deleted {file} ({chunks} chunks) from '{kb}'"),
    "cli.check.ok": ("正常：{docs} 个文档，{chunks} 个片段，{vectors} 个向量",
                     "OK: {docs} documents, {chunks} chunks, {vectors} vectors"),
    "cli.check.problems": ("已损坏：{docs} 个文档，{chunks} 个片段，{vectors} 个向量",
                           "DAMAGED: {docs} documents, {chunks} chunks, {vectors} vectors"),
    "cli.check.empty": ("正常（空的知识库）：{docs} 个文档，{chunks} 个片段，{vectors} 个向量",
                        "OK (empty): {docs} documents, {chunks} chunks, {vectors} vectors"),
    "cli.kbs.damaged": ("{name}  已损坏：{problem} → `python -m kb check --kb {name}`",
                        "{name}  DAMAGED: {problem} → `python -m kb check --kb {name}`"),
    "cli.repair.ok": ("正常：{docs} 个文档，{chunks} 个片段", "OK: {docs} documents, {chunks} chunks"),
    "cli.repair.still": ("仍有损坏：{docs} 个文档，{chunks} 个片段", "STILL DAMAGED: {docs} documents, {chunks} chunks"),
    "cli.rebuild.done": ("已用 {embedder} 重建 “{kb}”：{done} 个文档（其中 {kept} 个没有原始文件，保留原分块），失败 {failed} 个",
                         "rebuilt '{kb}' with {embedder}: {done} documents ({kept} kept without original), "
                         "{failed} failed"),
    "cli.rebuild.refused": ("没有重建 “{kb}”（什么都没有改变）：{failed} 个文档无法用 {embedder} 处理（共 {done} 个可处理，{kept} 个保留）",
                            "NOT rebuilt '{kb}' (nothing changed): {failed} document(s) failed with {embedder} "
                            "({done} could be done, {kept} kept)"),
    "cli.notice": ("提示：{text}", "notice: {text}"),
    "cli.reindex.done": ("已重新索引 {replaced} 个文档，失败 {failed} 个",
                         "re-indexed {replaced} document(s), {failed} failed"),
    # search
    "cli.search.query": ("查询：{query}", "query: {query}"),
    "cli.search.expanded": ("（已结合对话历史扩展）", "  (expanded with history)"),
    "cli.search.terms": ("关键词：{terms}", "terms: {terms}"),
    "cli.search.gate_passed": ("相关性门槛：通过（最佳向量相似度 {best}）", "gate: passed (best dense {best})"),
    "cli.search.stage_rewrite": ("模型把问题改写为：{queries}（{ms} 毫秒）", "the model rewrote the question as: {queries} ({ms} ms)"),
    "cli.search.stage_rerank": ("模型重新排序了候选片段，前几名中 {moved} 个换了位置（{ms} 毫秒；括号里是第一阶段的名次）",
                                "the model reordered the candidates, {moved} of the top ones moved ({ms} ms; the "
                                "first stage's rank in brackets)"),
    "cli.search.gate_failed": ("相关性门槛：没有足够相关的内容（最佳向量相似度 {best}）",
                               "gate: nothing relevant enough (best dense {best})"),
    "cli.history.unreadable": (
        "无法读取对话历史文件 {path}：{reason}。它必须是一个 JSON 列表："
        "[{{\"role\": \"user\" 或 \"assistant\", \"content\": \"...\"}}]",
        "Cannot read history file {path}: {reason}. It must be a JSON list of "
        "{{\"role\": \"user\"|\"assistant\", \"content\": \"...\"}}"),
    "cli.ask.rewritten": ("（改写后的问题：{text}）", "(rewritten: {text})"),
    "cli.ask.sources": ("来源：", "sources:"),
    "cli.ask.budget": (
        "预算：{total}/{available} 个词元（系统 {system}，资料 {sources}，历史 {history}，问题 {question}；"
        "num_ctx {num_ctx}，预留 {reserve}）",
        "budget: {total}/{available} tokens (system {system}, sources {sources}, history {history}, "
        "question {question}; num_ctx {num_ctx}, reserve {reserve})"),
    "cli.ask.usage": (
        "用量：首个词元 {ttft} 秒，每秒 {rate} 个词元，提示 {prompt} 个（Ollama 的计数），回答 {answer} 个",
        "usage: first token {ttft} s, {rate} tokens/s, prompt {prompt} (Ollama's count), answer {answer}"),
    # model
    "cli.model.created": ("已根据 {modelfile} 创建 {model}", "created {model} from {modelfile}"),
    "cli.model.running": ("{url} 上的 Ollama：正在运行，版本 {version}", "Ollama at {url}: running, version {version}"),
    "cli.model.unreachable": ("{url} 上的 Ollama：无法连接：{error}", "Ollama at {url}: NOT reachable: {error}"),
    "cli.model.models": ("模型：{models}", "models: {models}"),
    "cli.model.no_models": ("（无）", "(none)"),
    "cli.model.present": ("模型 {model}：已安装", "model {model}: present"),
    "cli.model.missing": ("模型 {model}：缺失，请运行 `python -m kb model setup`",
                          "model {model}: missing - run `python -m kb model setup`"),
    "cli.model.loaded": ("已加载：{where}（{placement}），上下文长度 {context}，共 {total} GiB，其中 {vram} GiB 在 GPU 上",
                         "loaded: {where} ({placement}), context length {context}, {total} GiB total, {vram} GiB on "
                         "the GPU"),
    "cli.model.ps_line": ("{name}：{where}；共 {total} GiB，显存中 {vram} GiB，上下文长度 {context}，{until} 卸载",
                          "{name}: {where}; {total} GiB in all, {vram} GiB in GPU memory, context {context}, "
                          "unloads at {until}"),
    "cli.model.ps_none": ("Ollama 现在没有加载任何模型（第一次提问时加载）",
                          "Ollama has no model loaded right now (it loads one on the first question)"),
    "cli.model.num_gpu_set": ("[ollama] num_gpu = {num_gpu}：每次请求都要求 GPU 上放 {num_gpu} 层",
                              "[ollama] num_gpu = {num_gpu}: every request asks for {num_gpu} layers on the GPU"),
    "cli.model.capabilities": ("能力：{capabilities}（模板：{source}）", "capabilities: {capabilities} (template: {source})"),
    "cli.model.template.gguf": ("GGUF 自带的聊天模板", "the GGUF's own chat template"),
    "cli.model.template.template": ("模型的 TEMPLATE", "the model's TEMPLATE"),
    "cli.model.not_loaded": ("当前未加载（第一次提问时加载）", "not loaded right now (it loads on the first question)"),
    "cli.model.details": ("Modelfile 的 num_ctx 为 {num_ctx}，训练上下文长度 {trained}",
                          "Modelfile num_ctx {num_ctx}, trained context {trained}"),
    # help
    "cli.help.description": ("KB Studio：基于你的 PDF 和 Markdown 笔记的私人知识库。",
                             "KB Studio: a private knowledge base over your PDFs and Markdown notes."),
    "cli.help.config": ("设置文件（默认：./config.toml 或 KB_CONFIG）", "settings file (default: ./config.toml, or KB_CONFIG)"),
    "cli.help.verbose": ("输出运行日志", "log what happens"),
    "cli.help.json": ("输出 JSON，供脚本使用", "print JSON for scripts"),
    "cli.help.kb": ("知识库名称（默认取自 config.toml）", "knowledge base name (default from config.toml)"),
    "cli.help.no_progress": ("不显示进度条", "show no progress bar"),
    "cli.help.ingest": ("添加或更新文件（PDF、Markdown、文本）", "add or update files (PDF, Markdown, text)"),
    "cli.help.files": ("要导入的文件", "the files to ingest"),
    "cli.help.kbs": ("列出知识库", "list knowledge bases"),
    "cli.help.docs": ("列出知识库中的文档", "list the documents of a knowledge base"),
    "cli.help.chunks": ("显示知识库或某个文档的片段", "show the chunks of a knowledge base or of one document"),
    "cli.help.document": ("文件名或文档 id", "file name or document id"),
    "cli.help.delete": ("删除一个文档", "remove a document"),
    "cli.help.check": ("检查知识库的每个文件（数据库、索引、原始文件），指出损坏之处",
                       "verify every file of a knowledge base (database, indexes, originals)"),
    "cli.help.repair": ("根据数据库和保存的原始文件修复 check 发现的问题（损坏的文件会保留在 damaged/）",
                        "fix what check found, from the database and the stored originals (keeps damaged files)"),
    "cli.help.rebuild": ("用当前配置的嵌入模型重新嵌入知识库（更换嵌入模型之后）",
                         "re-embed a knowledge base with the configured embedder (after changing it)"),
    "cli.help.reindex": ("按当前设置重新切分并嵌入已存储的文档",
                         "re-chunk and re-embed stored documents with the current settings"),
    "cli.help.reindex_document": ("只处理一个文档（默认：全部）", "one document (default: all)"),
    "cli.help.search": ("查找能回答问题的片段，并给出各项得分", "find the chunks that answer a question, with the score breakdown"),
    "cli.help.explain": ("解释为什么某个片段出现或没有出现在问题的结果里（各路检索的名次、得分、缺少的词）",
                         "explain why a chunk is, or is not, among a question's results (each retriever's rank and "
                         "score, the words it lacks)"),
    "cli.help.expect": ("期望找到的片段：片段 ID，或其中的一段原文", "the chunk you expected: its id, or a passage of it"),
    "cli.explain.scores": ("向量 {dense}（第 {dense_rank} 名）  关键词 {bm25}（第 {bm25_rank} 名）  共同的词 {matched}",
                           "dense {dense} (rank {dense_rank})  keyword {bm25} (rank {bm25_rank})  words in common "
                           "{matched}"),
    "cli.explain.lacking": ("它缺少问题里的这些词（idf；“, 0”表示整个知识库都没有）：{terms}",
                            "words of the question it lacks (idf; \", 0\": no chunk at all has it): {terms}"),
    "cli.help.query": ("要查找的问题", "the question to search for"),
    "cli.help.mode": ("检索方式", "retrieval mode"),
    "cli.help.k": ("返回多少个结果（1 到 100）", "how many results (1 to 100)"),
    "cli.help.threshold": ("相关性门槛：最低的向量余弦相似度（-1 到 1）",
                           "relevance gate: minimum dense cosine similarity (-1 to 1)"),
    "cli.help.mmr": ("结果多样化（MMR）", "diversify results (MMR)"),
    "cli.help.only_doc": ("只在这个文档中查找（可重复）", "only search this document (repeatable)"),
    "cli.help.history": ("JSON 文件：之前的对话轮次，形如 [{{\"role\", \"content\"}}]",
                         "JSON file: a list of {{\"role\",\"content\"}} earlier turns"),
    "cli.help.eval": ("用 JSONL 问题集评估检索效果", "score retrieval on a JSONL question set"),
    "cli.help.eval_file": ("JSONL 问题集", "the JSONL question set"),
    "cli.help.eval_sets": ("问题集，可写成 文件:知识库（可多个）", "question set, optionally FILE:KB (several allowed)"),
    "cli.help.ablate": ("关闭一项检索机制（可重复）：{names}；`--ablate list` 说明每一项",
                        "turn one retrieval mechanism off (repeatable): {names}; `--ablate list` explains them"),
    "cli.help.docs_only": ("同时报告仅限资料模式的门槛拒答", "also report the docs-only gate's declines"),
    "cli.help.ask": ("提一个问题：回答以流式输出，随后列出来源", "ask a question; the answer streams, then its sources"),
    "cli.help.question": ("问题", "the question"),
    "cli.help.session": ("对话名称（每个名称各自保存历史）", "conversation name (history is kept per name)"),
    "cli.help.ask_mode": ("docs：只依据资料回答（默认）；chat：可以使用常识",
                          "docs: only from sources (default); chat: may use general knowledge"),
    "cli.help.model": ("根据 Modelfile 在 Ollama 中创建回答模型，或查看其状态",
                       "create the answer model in Ollama from the Modelfile, or show its status"),
    "cli.help.action": ("setup：创建模型；status：查看状态；fit：下载前检查显存是否够用；ps：已加载的模型各层在 GPU 还是 CPU",
                        "setup: create the model; status: show its status; fit: will it fit, before downloading; "
                        "ps: the loaded models and where their layers went (GPU or CPU)"),
    # curating (issue 12)
    "cli.help.chunk": ("手工整理一个分块：停用、启用、编辑文本，或给文档添加分块",
                       "curate a chunk by hand: disable, enable, edit its text, or add one to a document"),
    "cli.help.chunk_action": ("disable / enable / edit / add", "disable / enable / edit / add"),
    "cli.help.chunk_id": ("分块 id（见 `python -m kb chunks --json`）", "the chunk id (see `python -m kb chunks --json`)"),
    "cli.help.chunk_text": ("分块的新文本", "the chunk's new text"),
    "cli.chunk.disable": ("已停用分块 {id}（{locator}）：它不会再被检索到，但仍然可见",
                          "Disabled chunk {id} ({locator}): it is never retrieved, and still shown"),
    "cli.chunk.enable": ("已启用分块 {id}（{locator}）", "Enabled chunk {id} ({locator})"),
    "cli.chunk.edit": ("已修改分块 {id}（{locator}）并重新嵌入", "Edited chunk {id} ({locator}); re-embedded"),
    "cli.chunk.add": ("已添加分块 {id}（{locator}）", "Added chunk {id} ({locator})"),
    "cli.chunk.id_missing": ("`chunk {action}` 需要分块 id", "`chunk {action}` needs a chunk id"),
    "cli.chunk.doc_missing": ("`chunk add` 需要 `--doc 文件名`", "`chunk add` needs `--doc FILE`"),
    "cli.chunk.text_missing": ("`chunk {action}` 需要 `--text 文本`", "`chunk {action}` needs `--text TEXT`"),
    "cli.help.export": ("把知识库备份为一个归档文件", "back up a knowledge base as one archive file"),
    "cli.help.export_output": ("要写入的归档文件", "the archive file to write"),
    "cli.help.import": ("从归档文件恢复知识库（先校验每个校验值）",
                        "restore a knowledge base from an archive (every checksum verified first)"),
    "cli.help.archive": ("归档文件", "the archive file"),
    "cli.help.as_name": ("导入为这个名称", "import under this name"),
    "cli.help.import_rebuild": ("归档用的是另一个嵌入模型时：导入后用当前模型重新嵌入",
                                "if the archive used another embedder: re-embed with the configured one"),
    "cli.export.done": ("已备份知识库 “{kb}”：{docs} 个文档，{files} 个文件，{mb} MB → {path}（{seconds} 秒）",
                        "Backed up knowledge base '{kb}': {docs} document(s), {files} file(s), {mb} MB -> {path} "
                        "({seconds} s)"),
    "cli.import.done": ("已导入知识库 “{kb}”：{docs} 个文档，{chunks} 个分块（{seconds} 秒）",
                        "Imported knowledge base '{kb}': {docs} document(s), {chunks} chunk(s) ({seconds} s)"),
    "cli.help.sync": ("让知识库与一个文件夹保持一致", "keep a knowledge base in step with a folder"),
    "cli.help.sync_folder": ("本机上的文件夹", "a folder on this machine"),
    "cli.help.dry_run": ("只列出会发生的变化，不做任何修改", "only list what would change; change nothing"),
    "cli.help.prune": ("删除文件夹中已没有的文档（知识库与文件夹完全一致）",
                       "remove documents the folder no longer holds (the knowledge base mirrors the folder)"),
    "cli.sync.add": ("新增", "add"),
    "cli.sync.replace": ("替换", "replace"),
    "cli.sync.unchanged": ("未变", "unchanged"),
    "cli.sync.remove": ("删除", "remove"),
    "cli.sync.duplicate": ("重复", "duplicate"),
    "cli.sync.skipped": ("跳过", "skipped"),
    "cli.sync.failed": ("失败", "failed"),
    "cli.sync.not_done": ("未完成", "not done"),
    "cli.sync.summary": (
        "知识库 “{kb}”：新增 {add}，替换 {replace}，未变 {unchanged}，删除 {remove}，重复 {duplicate}，跳过 {skipped}，"
        "失败 {failed}，未完成 {not_done}；嵌入 {embedded} 个分块，用时 {seconds} 秒",
        "knowledge base '{kb}': {add} added, {replace} replaced, {unchanged} unchanged, {remove} removed, "
        "{duplicate} duplicate, {skipped} skipped, {failed} failed, {not_done} not done; {embedded} chunk(s) "
        "embedded in {seconds} s"),
    "cli.sync.summary_dry": (
        "试运行（什么也没有改），知识库 “{kb}”：将新增 {add}，替换 {replace}，删除 {remove}；未变 {unchanged}，"
        "重复 {duplicate}，跳过 {skipped}",
        "dry run (nothing changed), knowledge base '{kb}': would add {add}, replace {replace}, remove {remove}; "
        "{unchanged} unchanged, {duplicate} duplicate, {skipped} skipped"),
    "cli.help.eval_file_personal": ("JSONL 问题集（省略则用知识库自己的问题集）",
                                    "the JSONL question set (omitted: the knowledge base's own set)"),
    "cli.help.digest": ("列出最近新增、改动和删除的文档，并附上摘要",
                        "list the documents added, changed and removed lately, with a summary each"),
    "cli.help.since": ("时间范围：30m、24h、7d、2w", "time span: 30m, 24h, 7d, 2w"),
    "cli.help.no_model": ("不请求 Ollama 生成摘要（用第一个标题）", "do not ask Ollama for summaries (first heading)"),
    "cli.digest.head": ("知识库 “{kb}” 自 {since} 以来：{n} 个文档有变化，{edits} 次手工编辑",
                        "knowledge base '{kb}' since {since}: {n} document(s) changed, {edits} hand edit(s)"),
    "cli.digest.added": ("新增", "added"),
    "cli.digest.replaced": ("更新", "changed"),
    "cli.digest.removed": ("删除", "removed"),
    "cli.digest.chunks": ("{n} 个分块", "{n} chunks"),
}

# -- `model fit`, `model setup --from/--num-gpu` (issue 13) ------------------------------------------------
MESSAGES.update({
    "cli.help.fit_name": ("fit：要检查的模型，例如 qwen3:1.7b（默认：全部候选模型）",
                          "fit: the model to check, e.g. qwen3:1.7b (default: every candidate)"),
    "cli.help.vram": ("fit：显卡的空闲显存（GiB），没有 nvidia-smi 时必须给出",
                      "fit: the GPU's free memory in GiB (needed where nvidia-smi is missing)"),
    "cli.help.num_ctx": ("fit：按这个上下文长度估算（默认：[chat] num_ctx）",
                         "fit: estimate at this context length (default: [chat] num_ctx)"),
    "cli.help.num_gpu": ("setup：强制放到 GPU 上的层数（0 = 只用 CPU）；默认不设置，由 Ollama 按空闲显存决定",
                         "setup: force this many layers onto the GPU (0 = CPU only); by default Ollama decides "
                         "from the free memory"),
    "cli.help.from": ("setup：先把 Modelfile 的 FROM 改成这个模型，再创建", "setup: point the Modelfile's FROM "
                      "at this model first, then create it"),
    "cli.model.from_written": ("已把 {modelfile} 的 FROM 从 {old} 改为 {new}", "{modelfile}: FROM {old} -> {new}"),
    "cli.fit.gpu": ("显卡空闲显存 {free} GiB{total}（来自 {source}）", "GPU memory free: {free} GiB{total} (from {source})"),
    "cli.fit.total": ("，共 {total} GiB", " of {total} GiB"),
    "cli.fit.line": ("{model}{installed}：上下文 {num_ctx} 时需要约 {needed} GiB，{verdict}；{largest}",
                     "{model}{installed}: needs ~{needed} GiB at num_ctx {num_ctx}: {verdict}; {largest}"),
    "cli.fit.installed": ("（已安装）", " (installed)"),
    "cli.fit.fits": ("可以完全放进显卡", "fits on the GPU"),
    "cli.fit.splits": ("只能部分放进显卡（{on_gpu}/{layers} 层在 GPU，其余在 CPU，会慢很多）",
                       "splits CPU/GPU ({on_gpu} of {layers} layers on the GPU, the rest on the CPU: slower)"),
    "cli.fit.too_big": ("太大了（显存和内存都放不下）", "too big (neither the GPU nor the RAM holds it)"),
    "cli.fit.max_context": ("能完全放进显卡的最大上下文是 {max_context}", "the largest context that still fits is {max_context}"),
    "cli.fit.no_context": ("任何上下文长度都放不进显卡", "no context length fits on the GPU"),
    "cli.fit.table_only": ("（只用了内置表：{error}）", "(built-in table only: {error})"),
    "cli.fit.choose": ("选好后运行 `python -m kb model setup --from 模型名`：改写 Modelfile 的 FROM 并创建模型",
                       "to use one: `python -m kb model setup --from NAME` writes the Modelfile's FROM and creates "
                       "the model"),
})


def _rule(zh: str, en: str) -> tuple[str, str]:
    from kb.messages.config import _value  # the same wording as every other bad setting

    return _value(zh, en)


MESSAGES.update({
    "config.rule.fit.vram": _rule("必须在 0.25 到 1024 GiB 之间", "must be between 0.25 and 1024 GiB"),
    "config.rule.fit.num_ctx": _rule("必须在 256 到 1048576 之间", "must be between 256 and 1048576"),
    "config.rule.fit.num_gpu": _rule("必须在 -1 到 1024 之间", "must be between -1 and 1024"),
})

# `python -m kb sync DIR --watch SECONDS` (kb/curate/sync.py `watch`)
MESSAGES.update({
    "config.rule.sync.watch": _rule("必须在 0.5 到 86400 秒之间", "must be between 0.5 and 86400 seconds"),
    "cli.help.watch": ("每隔 SECONDS 秒再同步一次，直到按 Ctrl-C（或收到 SIGTERM）",
                       "sync again every SECONDS seconds until Ctrl-C (or SIGTERM)"),
    "cli.sync.watch_dry_run": ("`--watch` 不能与 `--dry-run` 同时使用：先用 `--dry-run` 看一次会发生什么，再用 `--watch` 持续同步",
                               "`--watch` cannot be used with `--dry-run`: look once with `--dry-run`, then keep "
                               "the folder in sync with `--watch`"),
    "cli.sync.watch_start": ("正在监视文件夹 {folder}：每 {every} 秒同步一次到知识库 “{kb}”，按 Ctrl-C 停止",
                             "Watching the folder {folder}: syncing it into knowledge base '{kb}' every {every} s; "
                             "Ctrl-C stops"),
    "cli.sync.watch_round": ("[{time}] 第 {n} 轮", "[{time}] round {n}"),
    "cli.sync.watch_gone": ("文件夹 {folder} 不见了（被删除、移走或卸载）：知识库没有改动，等它回来后继续同步",
                            "The folder {folder} is gone (removed, moved or unmounted): the knowledge base was "
                            "not changed; waiting for it to come back"),
    "cli.sync.watch_stopped": ("已停止监视：共 {n} 轮", "Stopped watching after {n} round(s)"),
})

