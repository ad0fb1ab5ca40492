"""Every label of the UI, in Chinese (the default) and English.

`t(key, **values)` is plain text, for places Streamlit does not read as Markdown (select options,
table columns, chart titles). `tm(key, **values)` is Markdown for everything else (st.markdown,
st.error, captions, labels, help=): the label is ours, the values are escaped (ui.safe.fill), so a
file name or an Ollama error formatted into it renders as text.
"""
from __future__ import annotations

import streamlit as st

STRINGS: dict[str, tuple[str, str]] = {
    # navigation and sidebar
    "page.overview": ("概览", "Overview"),
    "page.upload": ("上传", "Upload"),
    "page.chunks": ("分块", "Chunks"),
    "page.retrieval": ("检索调试", "Retrieval"),
    "page.chat": ("对话", "Chat"),
    "sidebar.language": ("语言 / Language", "语言 / Language"),
    "sidebar.kb": ("知识库", "Knowledge base"),
    "sidebar.new": ("新建", "New"),
    "sidebar.new_name": ("新知识库的名称", "Name of the new knowledge base"),
    "sidebar.name_rule": ("字母、数字、- 和 _，最多 64 个字符", "Letters, digits, - and _, up to 64 characters"),
    "sidebar.create": ("创建", "Create"),
    "sidebar.created": ("已创建知识库 {name}", "Created knowledge base {name}"),
    "sidebar.delete": ("删除", "Delete"),
    "sidebar.gone": ("知识库 {name} 已被删除（在另一个窗口或命令行中），已切换到其他知识库。",
                     "The knowledge base {name} was deleted (in another window or the command line); switched "
                     "to another one."),
    "sidebar.no_kb": ("还没有知识库", "No knowledge base yet"),
    "kb.none": ("还没有知识库。在左侧“新建”里起一个名字创建，或者直接创建默认的知识库：",
                "There is no knowledge base yet. Create one under “New” in the sidebar, or create the default "
                "one:"),
    "kb.create_default": ("创建知识库 {name}", "Create the knowledge base {name}"),
    "kb.damaged": ("知识库 {name} 已损坏，暂时无法打开。其他知识库不受影响，可在左侧切换。",
                   "The knowledge base {name} is damaged and cannot be opened. The other knowledge bases are "
                   "not affected: switch to one in the sidebar."),
    "sidebar.delete_confirm": ("删除知识库 {name} 及其全部文件、分块和对话", "Delete {name} with all its files, chunks and "
                               "conversations"),
    "sidebar.delete_now": ("永久删除", "Delete for good"),
    "sidebar.deleted": ("已删除知识库 {name}", "Deleted knowledge base {name}"),
    "sidebar.ollama_down": ("Ollama 未运行", "Ollama is not running"),
    "sidebar.model_missing": ("缺少模型 {model}", "Model {model} is missing"),
    "sidebar.not_loaded": ("未加载", "not loaded"),
    "status.checking": ("正在检查 Ollama…", "Checking Ollama…"),
    "status.checked_at": ("{ago:.0f} 秒前检查", "checked {ago:.0f} s ago"),
    "sidebar.placement": ("模型位置：{where}", "Model runs on: {where}"),
    # retrieval: fields, the calibrated gate, the personal question set
    "retrieval.fields": ("命中字段：{fields}", "Matched fields: {fields}"),
    "field.file": ("文件名", "file name"),
    "field.title": ("标题", "title"),
    "field.heading": ("标题路径", "heading path"),
    "retrieval.gate_declined": ("没有结果通过相关性门槛：仅限资料模式下会回答“知识库中没有找到相关内容”",
                                "No result passed the relevance gate: docs-only chat would answer that the notes "
                                "do not cover it"),
    "retrieval.calibration": ("门槛按本知识库校准：下限 {floor:.3f}，支持线 {support:.3f}（{n} 个自测问题）",
                              "Gate calibrated on this knowledge base: floor {floor:.3f}, support {support:.3f} "
                              "({n} pseudo-questions)"),
    "retrieval.mark_right": ("这是正确的分块", "This is the right chunk"),
    "retrieval.mark_right_help": ("把这个问题和这个分块加入本知识库自己的问题集，之后可以用它检验设置是否有改进",
                                  "Add this question and chunk to this knowledge base's own question set, to check "
                                  "later whether a setting change helped"),
    "retrieval.marked": ("已加入本知识库的问题集", "Added to this knowledge base's question set"),
    "retrieval.run_personal": ("用我的问题集评测", "Score my question set"),
    "retrieval.run_personal_help": ("对你标记过的问题计算 hit@k 和 MRR（与 `python -m kb eval --kb 名称` 相同）",
                                    "hit@k and MRR over the questions you marked (the same as "
                                    "`python -m kb eval --kb NAME`)"),
    "retrieval.personal_result": ("我的问题集：{n} 个问题，hit@1 {hit1:.2f}，hit@5 {hit5:.2f}，MRR@10 {mrr:.3f}",
                                  "My question set: {n} questions, hit@1 {hit1:.2f}, hit@5 {hit5:.2f}, "
                                  "MRR@10 {mrr:.3f}"),
    # overview: which model fits
    "overview.fit": ("哪个模型放得下显卡？（下载之前检查）", "Which model fits the card? (check before downloading)"),
    "overview.fit_ctx": ("上下文长度 num_ctx", "Context length num_ctx"),
    "overview.fit_vram": ("显存（GiB，0 = 用 nvidia-smi 检测）", "GPU memory (GiB, 0 = ask nvidia-smi)"),
    "overview.fit_run": ("检查", "Check"),
    "overview.fit_use": ("使用所选模型（写入 Modelfile 并创建）", "Use the selected model (writes the Modelfile, creates it)"),
    "overview.fit_pick": ("模型", "Model"),
    "fit.fits": ("完全放在 GPU 上", "fits on the GPU"),
    "fit.splits": ("CPU/GPU 分担（较慢）", "splits CPU/GPU (slower)"),
    "fit.too_big": ("太大", "too big"),
    # overview
    "overview.title": ("概览", "Overview"),
    "overview.documents": ("文档", "Documents"),
    "overview.chunks": ("分块", "Chunks"),
    "overview.embedder": ("嵌入模型", "Embedder"),
    "overview.index_size": ("索引大小", "Index size"),
    "overview.empty": ("知识库还是空的：先上传 PDF 或 Markdown 笔记。", "The knowledge base is empty: upload PDFs or "
                       "Markdown notes first."),
    "overview.go_upload": ("去上传", "Go to Upload"),
    "overview.ollama": ("Ollama 与模型", "Ollama and the model"),
    "overview.ollama_down": ("Ollama 没有运行（{url} 无响应）。对话页仍会列出最相关的段落，但不会生成回答。",
                             "Ollama is not running (no answer at {url}). The chat page still lists the most "
                             "relevant passages, but writes no answers."),
    "overview.how_to_start": ("**如何启动：** 安装 Ollama（ollama.com），然后在终端运行：",
                              "**To start it:** install Ollama (ollama.com), then run in a terminal:"),
    "overview.then_setup": ("第一次使用时，再从 Modelfile 创建模型：", "The first time, also create the model from the "
                            "Modelfile:"),
    "overview.version": ("Ollama 版本", "Ollama version"),
    "overview.model": ("模型", "Model"),
    "overview.installed": ("已安装", "installed"),
    "overview.missing": ("未安装", "missing"),
    "overview.context": ("上下文长度", "Context length"),
    "overview.context_help": ("已加载模型的上下文长度（来自 /api/ps），未加载时取 Modelfile 的 num_ctx",
                              "The loaded model's context (from /api/ps); the Modelfile's num_ctx when not loaded"),
    "overview.offload": ("CPU/GPU 分布：{placement}（共 {size}，显存 {vram}）",
                         "CPU/GPU split: {placement} ({size} in all, {vram} in GPU memory)"),
    "overview.capabilities": ("模型能力：{capabilities}（模板：{source}）", "Model capabilities: {capabilities} (template: {source})"),
    "overview.template.gguf": ("GGUF 自带的聊天模板", "the GGUF's own chat template"),
    "overview.template.template": ("模型的 TEMPLATE", "the model's TEMPLATE"),
    "overview.num_gpu_set": ("config.toml 的 [ollama] num_gpu = {num_gpu}：每次请求都要求 GPU 上放这么多层；"
                             "删掉它，Ollama 会按空闲显存自己安排。",
                             "[ollama] num_gpu = {num_gpu} in config.toml: every request asks for that many layers on "
                             "the GPU; remove it and Ollama places them by the free memory."),
    "overview.cpu_only": ("模型完全在 CPU 上运行，回答会很慢。检查显卡驱动，或在 Modelfile 里调小 num_ctx / num_gpu。",
                          "The model runs entirely on the CPU, so answers will be slow. Check the GPU driver, or "
                          "lower num_ctx / num_gpu in the Modelfile."),
    "overview.not_loaded": ("模型尚未加载：第一次提问时 Ollama 会加载它（可能需要几秒）。",
                            "The model is not loaded yet: Ollama loads it on the first question (may take seconds)."),
    "overview.model_missing": ("Ollama 中还没有模型 {model}。点击下方按钮从 Modelfile 创建（需要下载基础模型时会先下载）。",
                               "Ollama has no model {model} yet. Create it from the Modelfile with the button below "
                               "(the base model is downloaded first if needed)."),
    "overview.setup": ("从 Modelfile 创建模型", "Create the model from the Modelfile"),
    "overview.setup_running": ("正在创建模型：{status}", "Creating the model: {status}"),
    "overview.setup_done": ("模型 {model} 已创建（{s:.0f} 秒）", "Model {model} created ({s:.0f} s)"),
    "overview.refresh": ("刷新状态", "Refresh status"),
    # upload
    "upload.title": ("上传文档", "Upload documents"),
    "upload.files": ("选择文件（可多选）：PDF、Markdown、文本、Word、PowerPoint、Excel/CSV、HTML 或图片",
                     "Choose files (several at once): PDF, Markdown, text, Word, PowerPoint, Excel/CSV, HTML or images"),
    "upload.help": ("每个文件最大 {mb} MB。同名文件会被替换，内容未变的文件会被跳过。",
                    "Up to {mb} MB per file. A file with the same name is replaced; unchanged files are skipped."),
    "upload.ingest": ("导入 {n} 个文件", "Ingest {n} file(s)"),
    "upload.waiting": ("正在开始…", "Starting…"),
    "upload.other_kb": ("（知识库 {kb}）", "(knowledge base {kb})"),
    "upload.progress": ("[{i}/{n}] {file}：{step}（{s:.0f} 秒）", "[{i}/{n}] {file}: {step} ({s:.0f} s)"),
    "upload.summary": ("新增 {added}，替换 {replaced}，未变 {unchanged}，失败 {failed}（{s:.1f} 秒）",
                       "{added} added, {replaced} replaced, {unchanged} unchanged, {failed} failed ({s:.1f} s)"),
    "upload.documents": ("知识库 {kb} 中的文档", "Documents in {kb}"),
    "upload.no_documents": ("还没有文档。", "No documents yet."),
    "upload.pages": ("{n} 页 · ", "{n} pages · "),
    "upload.doc_line": ("{kind} · {pages}{chunks} 个分块 · {size} · {date}", "{kind} · {pages}{chunks} chunks · "
                        "{size} · {date}"),
    "upload.reindex": ("重建索引", "Re-index"),
    "upload.reindex_all": ("全部重建索引", "Re-index all"),
    "upload.delete": ("删除", "Delete"),
    "upload.confirm_delete": ("确认删除", "Confirm delete"),
    "upload.cancel": ("取消", "Cancel"),
    "upload.deleted": ("已删除 {file}", "Deleted {file}"),
    "stage.waiting": ("等待另一个写入结束", "waiting for another writer"),
    "stage.reading": ("读取", "reading"),
    "stage.ocr": ("OCR 识别", "OCR"),
    "stage.ocr_pages": ("OCR 识别 第 {done}/{total} 页", "OCR page {done} of {total}"),
    "stage.embedding": ("嵌入", "embedding"),
    "stage.saving": ("保存", "saving"),
    "stage.done": ("完成", "done"),
    "status.added": ("新增", "added"),
    "status.unchanged": ("未变", "unchanged"),
    "status.replaced": ("替换", "replaced"),
    "status.failed": ("失败", "failed"),
    # chunks
    "chunks.title": ("分块", "Chunks"),
    "chunks.empty": ("还没有分块：先上传文档。", "No chunks yet: upload documents first."),
    "chunks.document": ("文档", "Document"),
    "chunks.all_documents": ("全部文档", "All documents"),
    "chunks.page": ("页码", "Page"),
    "chunks.all_pages": ("全部", "All"),
    "chunks.heading": ("标题包含", "Heading contains"),
    "chunks.text": ("正文包含", "Text contains"),
    "chunks.tab_table": ("分块列表", "Chunk list"),
    "chunks.count": ("显示 {n} / {total} 个分块", "Showing {n} of {total} chunks"),
    "chunks.tab_stats": ("统计", "Statistics"),
    "chunks.detail": ("分块详情", "Chunk detail"),
    "chunks.pick_row": ("在表格中选中一行查看它的详情；现在显示的是第一个。", "Select a row in the table to see it; "
                        "showing the first one."),
    "chunks.meta": ("位置 {position} · 类型 {kind} · {chars} 字符 · id {id} · 内容哈希 {hash}",
                    "position {position} · kind {kind} · {chars} characters · id {id} · content hash {hash}"),
    "chunks.none_match": ("没有符合筛选条件的分块。", "No chunk matches the filters."),
    "chunks.size_setting": ("分块设置：每块约 {size} 字符，重叠 {overlap} 字符（config.toml 的 [chunking]）。",
                            "Chunking: about {size} characters per chunk, {overlap} overlap ([chunking] in "
                            "config.toml)."),
    "chunk.page": ("第 {page} 页", "p. {page}"),
    # retrieval
    "retrieval.title": ("检索调试", "Retrieval debugging"),
    "retrieval.query": ("查询", "Query"),
    "retrieval.placeholder": ("输入要在知识库中查找的问题", "Type what to look for in the knowledge base"),
    "retrieval.recent": ("最近的查询", "Recent queries"),
    "retrieval.mode": ("检索方式", "Mode"),
    "retrieval.k": ("返回数 k", "Results k"),
    "retrieval.fusion": ("融合方式", "Fusion"),
    "retrieval.fusion_help": ("混合检索如何合并两种得分：z-score 保留每个结果高出平均多少；RRF 只看名次。",
                              "How hybrid search combines the two scores: z-score keeps how far a result stands "
                              "out; RRF uses ranks only."),
    "fusion.zscore": ("z-score", "z-score"),
    "fusion.rrf": ("RRF 名次融合", "RRF (ranks)"),
    "retrieval.coverage_help": ("问题中的关键词（按 idf 加权）有多少出现在这个分块里", "How much of the question's "
                                "keyword weight (idf) this chunk contains"),
    "retrieval.explain": ("为什么没找到我的笔记？", "Why not my note?"),
    "retrieval.explain_expected": ("期望找到的片段：片段 ID，或其中的一段原文", "The chunk you expected: its id, or a "
                                   "passage of it"),
    "retrieval.explain_placeholder": ("例如从分块页面复制的一句话", "e.g. a sentence copied from the Chunks page"),
    "retrieval.explain_run": ("解释", "Explain"),
    "retrieval.explain_lacking": ("它缺少问题里的这些词（idf；“, 0”表示整个知识库都没有）：{terms}",
                                  "Words of the question it lacks (idf; \", 0\": no chunk at all has it): {terms}"),
    "retrieval.llm_rewrite": ("模型改写问题", "Model rewrites the question"),
    "retrieval.llm_rerank": ("模型重排", "Model reranks"),
    "retrieval.llm_help": ("第二阶段：用 Ollama 模型改写问题或给前 {top} 个候选重新排序（最多 {budget} 秒；"
                           "Ollama 不在或超时就用第一阶段的结果）。默认值在 config.toml 的 [retrieval]。",
                           "Second stage: the Ollama model rewrites the question or reorders the top {top} "
                           "candidates (at most {budget} s; without Ollama, or past that, the first stage's results "
                           "stand). Defaults are under [retrieval] in config.toml."),
    "retrieval.stage_rewrite": ("模型把问题改写为：{queries}（{ms} 毫秒）", "The model rewrote the question as: "
                                "{queries} ({ms} ms)"),
    "retrieval.stage_rerank": ("模型重新排序了前 {top} 个候选，前 {k} 名中 {moved} 个换了位置（{ms} 毫秒）。"
                               "“第一阶段”列是原来的名次。",
                               "The model reordered the top {top} candidates; {moved} of the top {k} moved ({ms} ms). "
                               "The “first stage” column is where each was."),
    "retrieval.missing_names": ("知识库中没有出现的名称：{names}", "Names that occur nowhere in the knowledge base: "
                                "{names}"),
    "retrieval.threshold": ("相关性阈值", "Relevance threshold"),
    "retrieval.threshold_help": ("仅文档模式的门槛：向量相似度（余弦）至少达到这个值才算相关。",
                                 "The docs-only gate: a result counts as relevant when its dense (cosine) "
                                 "similarity reaches this."),
    "retrieval.mmr_help": ("最大边际相关：减少内容重复的结果", "Maximal marginal relevance: fewer near-duplicate "
                           "results"),
    "retrieval.documents": ("只在这些文档中检索", "Only in these documents"),
    "retrieval.all_documents": ("全部文档", "All documents"),
    "retrieval.history": ("对话历史（追问）", "Conversation history (follow-ups)"),
    "retrieval.history_help": ("把某个对话的历史带入检索：像“它”“第一个”这样的追问会用上文补全。",
                               "Search with a conversation's history: follow-ups such as 'it' or 'the first one' "
                               "are completed from it."),
    "retrieval.no_history": ("不使用历史", "No history"),
    "retrieval.hint": ("输入查询后，这里会显示每个结果的向量、关键词和融合得分，以及对话会发送的完整提示词。",
                       "Type a query to see each result's dense, keyword and fused scores, and the exact prompt "
                       "chat would send."),
    "retrieval.expanded": ("追问已结合历史，实际检索：{q}", "Follow-up expanded with history, searched: {q}"),
    "retrieval.summary": ("查询词：{terms} · 最高向量相似度 {best} · 门槛：{gate}（{n} 条通过） · {ms:.0f} ms",
                          "Query terms: {terms} · best dense {best} · gate: {gate} ({n} passed) · {ms:.0f} ms"),
    "retrieval.gate_failed": ("没有结果达到相关性阈值 {threshold:.2f}：仅文档模式会回答“知识库中没有找到相关内容”。",
                              "No result reaches the threshold {threshold:.2f}: docs-only chat would answer that "
                              "the knowledge base has nothing on this."),
    "retrieval.tab_results": ("结果", "Results"),
    "retrieval.tab_chart": ("得分图", "Score chart"),
    "retrieval.tab_prompt": ("提示词与预算", "Prompt and budget"),
    "retrieval.tab_compare": ("对比两种设置", "Compare two settings"),
    "retrieval.score_line": ("融合 {fused:.4f} · 向量 {dense} · 关键词 {bm25}", "fused {fused:.4f} · dense {dense} · "
                             "keyword {bm25}"),
    "retrieval.matched": ("命中的关键词：{terms}", "Matched terms: {terms}"),
    "retrieval.chart_help": ("每种检索各用自己的刻度：向量是余弦相似度，关键词是 BM25 分数，融合是两者的组合"
                             "（z-score 加权和或 RRF）。绿色为通过门槛。", "Each retriever on its own scale: dense is "
                             "cosine similarity, keyword is BM25, fused combines them (weighted z-scores or RRF). "
                             "Green passed the gate."),
    "retrieval.prompt_help": ("对话页对这个问题实际会发送的提示词（使用 config.toml 中的检索设置，而不是上面的控件），以及每部分占用的 "
                              "token。", "The exact prompt the chat page would send for this question (with the "
                              "retrieval settings of config.toml, not the widgets above), and the tokens of "
                              "each part."),
    "retrieval.would_decline": ("仅文档模式下，这个问题不会调用模型：没有资料通过门槛。",
                                "In docs-only mode this question would not reach the model: no source passed "
                                "the gate."),
    "retrieval.chars": ("{n} 字符", "{n} characters"),
    "retrieval.compare_help": ("同一个查询，用设置 A（上方）和设置 B（下方）各检索一次。",
                               "The same query searched with settings A (above) and B (below)."),
    "retrieval.side": ("**{side}**：{mode}，k={k}，阈值 {threshold:.2f}，{n} 条通过", "**{side}**: {mode}, k={k}, "
                       "threshold {threshold:.2f}, {n} passed"),
    "mode.hybrid": ("混合", "Hybrid"),
    "mode.dense": ("向量", "Dense"),
    "mode.bm25": ("关键词", "Keyword"),
    "gate.pass": ("通过", "passed"),
    "gate.fail": ("未通过", "not passed"),
    "budget.meter": ("上下文：{total} / {available} token（num_ctx {num_ctx}，其余留给回答）",
                     "Context: {total} / {available} tokens (num_ctx {num_ctx}, the rest is kept for the answer)"),
    "budget.parts": ("系统 {system} · 资料 {sources} · 历史 {history} · 问题 {question} · 预留 {reserve}",
                     "system {system} · sources {sources} · history {history} · question {question} · "
                     "reserved {reserve}"),
    "budget.dropped": ("因超出预算省略了 {turns} 条历史、{sources} 条资料", "left out to fit: {turns} history "
                       "message(s), {sources} source(s)"),
    "budget.system": ("系统", "system"),
    "budget.sources": ("资料", "sources"),
    "budget.history": ("历史", "history"),
    "budget.question": ("问题", "question"),
    "budget.framing": ("格式", "framing"),
    "budget.reserve": ("回答预留", "answer reserve"),
    "budget.free": ("空闲", "free"),
    # chat
    "chat.title": ("对话", "Chat"),
    "chat.conversation": ("对话", "Conversation"),
    "chat.session_label": ("{title}（{n}）", "{title} ({n})"),
    "chat.untitled": ("新对话", "New conversation"),
    "chat.new": ("新对话", "New"),
    "chat.delete": ("删除", "Delete"),
    "chat.delete_now": ("删除这个对话", "Delete this conversation"),
    "chat.mode": ("回答方式", "Answer from"),
    "chat.mode_docs": ("仅文档", "Documents only"),
    "chat.mode_chat": ("文档 + 通用知识", "Documents + general knowledge"),
    "chat.ollama_down": ("Ollama 没有运行（{url} 无响应），现在只能列出知识库中最相关的段落。在终端运行下面的命令启动它：",
                         "Ollama is not running (no answer at {url}), so answers are the most relevant passages "
                         "only. Start it in a terminal with:"),
    "chat.model_missing": ("Ollama 中还没有模型 {model}，现在只能列出最相关的段落。创建模型：",
                           "Ollama has no model {model} yet, so answers are the most relevant passages only. "
                           "Create it with:"),
    "chat.placeholder": ("就你的文档提问…", "Ask about your documents…"),
    "chat.searching": ("正在检索…", "Searching…"),
    "chat.found": ("找到 {n} 条相关资料，正在生成回答…", "Found {n} relevant source(s), writing the answer…"),
    "chat.rewritten": ("追问已改写为：{q}", "Follow-up rewritten as: {q}"),
    "chat.fallback_note": ("没有可用的模型：下面是知识库中最相关的段落，不是生成的回答。",
                           "No model available: below are the most relevant passages, not a written answer."),
    "chat.declined_note": ("没有资料达到相关性阈值，所以没有调用模型。", "No source reached the relevance threshold, so "
                           "the model was not asked."),
    "chat.general_note": ("这个回答来自模型的通用知识，不来自知识库。", "This answer comes from the model's general "
                          "knowledge, not from the knowledge base."),
    "chat.error": ("回答出错：{error}", "The answer failed: {error}"),
    "chat.sources": ("来源：引用了 {used} / {total} 条资料", "Sources: {used} of {total} cited"),
    "chat.uncited": ("提示词中另有 {n} 条资料，回答没有引用", "{n} more source(s) in the prompt, not cited"),
    "chat.thinking": ("模型的思考过程（不属于回答）", "The model's reasoning (not part of the answer)"),
    "chat.interrupted": ("回答被中断：上面是中断前已经收到的部分。", "The answer was interrupted: above is what had "
                         "arrived by then."),
    "chat.interrupted_empty": ("回答被中断：中断前还没有收到任何内容。", "The answer was interrupted before any of it "
                               "arrived."),
    "chat.streaming_elsewhere": ("这个回答还在生成（在另一个窗口中），稍后刷新即可看到完整内容。",
                                 "This answer is still being written (in another window): reload later to see "
                                 "all of it."),
    "chat.chunk_meta": ("位置 {position} · 类型 {kind} · id {id}", "position {position} · kind {kind} · id {id}"),
    "usage.ttft": ("首字 {s:.2f} 秒", "first token {s:.2f} s"),
    "usage.tps": ("{tps:.1f} token/秒", "{tps:.1f} tokens/s"),
    "usage.tokens": ("提示 {prompt} / 回答 {answer} token", "prompt {prompt} / answer {answer} tokens"),
    # table columns
    "col.file": ("文件", "File"),
    "col.status": ("状态", "Status"),
    "col.chunks": ("分块", "Chunks"),
    "col.embedded": ("新嵌入", "Embedded"),
    "col.seconds": ("秒", "Seconds"),
    "col.reason": ("原因 / 提示", "Reason / warnings"),
    "col.position": ("序号", "#"),
    "col.page": ("页", "Page"),
    "col.ocr": ("OCR", "OCR"),
    "col.pages": ("页数", "Pages"),
    "col.heading": ("标题路径", "Heading path"),
    "col.kind": ("类型", "Kind"),
    "col.chars": ("字符数", "Characters"),
    "col.text": ("正文", "Text"),
    "col.id": ("ID", "ID"),
    "col.mean_chars": ("平均字符", "Mean chars"),
    "col.min_chars": ("最少", "Min"),
    "col.max_chars": ("最多", "Max"),
    "col.warnings": ("提示（如无文字的页）", "Warnings (e.g. pages without text)"),
    "col.count": ("分块数", "Chunks"),
    "col.first_stage": ("第一阶段", "First stage"),
    "col.rank": ("名次", "Rank"),
    "col.model": ("模型", "Model"),
    "col.needed_gib": ("需要（GiB）", "Needs (GiB)"),
    "col.verdict": ("结论", "Verdict"),
    "col.gpu_layers": ("GPU 上的层", "Layers on GPU"),
    "col.max_context": ("最大上下文", "Largest context"),
    "col.installed": ("已安装", "Installed"),
    "col.source": ("来源", "Source"),
    "col.fused": ("融合", "Fused"),
    "col.retriever": ("检索方式", "Retriever"),
    "col.score": ("得分", "Score"),
    "col.dense": ("向量", "Dense"),
    "col.dense_rank": ("向量名次", "Dense rank"),
    "col.bm25": ("关键词", "Keyword"),
    "col.bm25_rank": ("关键词名次", "Keyword rank"),
    "col.matched": ("命中词", "Matched terms"),
    "col.coverage": ("关键词覆盖", "Keyword coverage"),
    "col.passed": ("通过门槛", "Passed gate"),
    "col.part": ("部分", "Part"),
    "col.tokens": ("token", "Tokens"),
    "col.rank_a": ("A 名次", "Rank A"),
    "col.rank_b": ("B 名次", "Rank B"),
    "col.passed_a": ("A 通过", "Passed A"),
    "col.passed_b": ("B 通过", "Passed B"),
}


def t(key: str, **values: object) -> str:
    """The label `key` in the session's language, formatted with `values`."""
    from ui.state import lang

    zh, en = STRINGS[key]
    text = en if lang() == "en" else zh
    return text.format(**values) if values else text


def tm(key: str, **values: object) -> str:
    """The label `key` as safe Markdown: every value escaped, the label's own backtick spans as code."""
    from ui import safe
    from ui.state import lang

    zh, en = STRINGS[key]
    return safe.fill(en if lang() == "en" else zh, values)
