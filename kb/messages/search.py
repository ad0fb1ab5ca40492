"""Messages of search and evaluation: options, question sets, the docs-only gate's reasons."""

MESSAGES: dict[str, tuple[str, str]] = {
    "search.bad_mode": ("未知的检索模式 “{mode}”：请使用 dense、bm25 或 hybrid",
                        "Unknown search mode '{mode}': use dense, bm25 or hybrid"),
    "search.bad_fusion": ("未知的融合方式 “{fusion}”：请使用 zscore 或 rrf",
                          "Unknown fusion '{fusion}': use zscore or rrf"),
    "search.bad_k": ("k 必须在 1 到 100 之间（现在是 {k}）", "k must be between 1 and 100 (it is {k})"),
    "search.bad_mmr_lambda": ("mmr_lambda 必须在 0 到 1 之间（现在是 {value}）",
                              "mmr_lambda must be between 0 and 1 (it is {value})"),
    "search.unknown_ablation": (
        "没有名为 “{name}” 的检索机制：可用的有 {known}（`python -m kb eval --ablate list` 列出说明）",
        "There is no retrieval mechanism called '{name}': known ones are {known} "
        "(`python -m kb eval --ablate list` explains them)"),
    "search.bad_rerank_top": ("llm_rerank_top 必须在 2 到 40 之间（现在是 {value}）",
                              "llm_rerank_top must be between 2 and 40 (it is {value})"),
    "search.bad_llm_budget": ("llm_budget 必须大于 0 秒、不超过 600 秒（现在是 {value}）",
                              "llm_budget must be more than 0 and at most 600 seconds (it is {value})"),
    # Why a chunk someone expected is, or is not, among the results (Retriever.explain)
    "explain.returned": ("它在结果里：第 {rank} 名（k = {k}）", "it is among the results: rank {rank} (k = {k})"),
    "explain.below_k": (
        "它进了候选池，但融合后排第 {rank} 名，只返回前 {k} 名：第 {k} 名的融合分是 {kth:.3f}，它是 {score:.3f}",
        "it is in the candidate pool but fused rank {rank}, and only the top {k} are returned: the last "
        "returned result has a fused score of {kth:.3f}, it has {score:.3f}"),
    "explain.not_candidate": (
        "它不在任何一路检索的前 {candidates} 个候选里：向量检索第 {dense} 名，关键词检索第 {bm25} 名"
        "（“—”表示和问题没有共同的词）；换用文档里的说法提问，或调大 [retrieval] candidates",
        "it is not among the first {candidates} candidates of either retriever: dense rank {dense}, keyword "
        "rank {bm25} (\"—\": no word in common with the question); ask in the document's own words, or raise "
        "[retrieval] candidates"),
    "explain.disabled": ("这个片段已停用（分块页面），检索不会返回它", "this chunk is disabled (Chunks page), "
                         "so no search returns it"),
    "explain.filtered": ("文档筛选排除了它所在的文档 {file}", "the document filter leaves out its document {file}"),
    "explain.no_chunk": ("没有哪个片段包含“{expected}”：请从分块页面复制一段原文，或给出片段 ID",
                         "No chunk contains '{expected}': copy a passage from the Chunks page, or give a chunk id"),
    # Why the docs-only gate declined (SearchResult.gate_reason_code / gate_reason)
    "gate.nothing_found": ("没有找到任何片段", "nothing was found"),
    "gate.below_calibrated": (
        "最相近片段的相似度 {best:.3f} 低于本知识库校准出的阈值 {threshold:.3f}"
        "（用知识库自身片段做的 {n} 个模拟问题：文档外问题的相似度有 {quantile:.0%} 低于此值）",
        "the closest chunk's similarity {best:.3f} is below this knowledge base's calibrated threshold "
        "{threshold:.3f} ({n} pseudo-questions made from its own chunks: {quantile:.0%} of questions about "
        "documents it lacks score below it)"),
    "gate.unknown_names": (
        "问题里的名称 {names} 在知识库中从未出现，且最相近片段的相似度 {best:.3f} 不高于本知识库文档外问题的中位数 {support:.3f}"
        "（{n} 个模拟问题校准）",
        "the knowledge base never mentions {names}, and the closest chunk's similarity {best:.3f} does not beat "
        "the median {support:.3f} of questions about documents it lacks ({n} pseudo-questions)"),
    "gate.unknown_names_fixed": ("知识库中从未出现问题里的名称 {names}", "the knowledge base never mentions {names}"),
    "gate.below_fixed": ("最相近片段的相似度 {best:.3f} 低于阈值 {threshold:.3f}",
                         "the closest chunk's similarity {best:.3f} is below the threshold {threshold:.3f}"),
    "eval.unreadable": ("无法读取问题集 {path}：{reason}", "Cannot read the question set {path}: {reason}"),
    "eval.bad_item": ("{path} 第 {line} 行不是有效的问题（{reason}）：每行需要 id、question、evidence",
                      "{path} line {line} is not a valid question ({reason}): each line needs id, question, "
                      "evidence"),
    "eval.no_kb": ("问题集 “{spec}” 没有指定知识库：写成 `问题集.jsonl:知识库名`，或加 `--kb 名称`",
                   "The question set '{spec}' names no knowledge base: write `questions.jsonl:KB`, or add "
                   "`--kb NAME`"),
    "eval.no_sets": ("没有给出问题集：`python -m kb eval 问题集.jsonl:知识库名 ...`",
                     "No question set given: `python -m kb eval questions.jsonl:KB ...`"),
}

# The second stage (kb/search/second_stage.py): why the model's part was not used, one code per stage
_STAGES = {"rewrite": ("改写问题", "rewrite of the question"), "rerank": ("排序", "ordering of the candidates")}
for _stage, (_zh, _en) in _STAGES.items():
    MESSAGES.update({
        f"stage.{_stage}.bad_reply": (f"模型的{_zh}回复无法使用（{{reply}}）：沿用第一阶段的结果",
                                      f"the model's {_en} could not be used ({{reply}}): the first stage's results "
                                      "stand"),
        f"stage.{_stage}.failed": (f"模型的{_zh}没有完成：{{error}}　沿用第一阶段的结果",
                                   f"the model's {_en} did not complete: {{error}} The first stage's results stand"),
        f"stage.{_stage}.no_time": (f"{{budget}} 秒的模型时间预算已用完，未做{_zh}：沿用第一阶段的结果",
                                    f"the {{budget}} s budget for the model was spent before the {_en}: the first "
                                    "stage's results stand"),
    })
MESSAGES["stage.rerank.declined"] = ("问题没有通过仅限文档的检查，未请模型排序",
                                     "the question did not pass the docs-only gate, so the model was not asked to "
                                     "order the candidates")
