"""Messages of settings and names: config.toml, KB_* variables, command-line values, knowledge-base names.

`{origin}` is where a value came from: a `KB_*` variable, the path of config.toml, or "defaults".
"""

_FIX_ZH = "请在 config.toml 或对应的 KB_* 环境变量中修改。"
_FIX_EN = "Fix it in config.toml or the KB_* environment variable."


def _value(zh: str, en: str) -> tuple[str, str]:
    """A message about one setting's value: which key, what value, where it was set, what to do."""
    return (f"设置 {{key}} 的值 {{value}} 不可用：{zh}（来自 {{origin}}）。{_FIX_ZH}",
            f"Bad setting {{key}} = {{value}}: {en} (set in {{origin}}). {_FIX_EN}")


_RULES = {
    "storage.max_file_mb": ("必须大于 0", "must be > 0"),
    "storage.default_kb": ("必须是简单的名称（字母、数字、- 和 _）", "must be a simple name (letters, digits, - _)"),
    "embedder.name": ("请使用 'builtin'、'ollama:<模型名>' 或 'hash'", "use 'builtin', 'ollama:<model>' or 'hash'"),
    "embedder.batch_size": ("必须至少为 1", "must be >= 1"),
    "index.approximate_above": ("必须至少为 1（块数；达到这个数量后向量索引改用近似索引）",
                                "must be >= 1 (chunks; at this many the vector index becomes approximate)"),
    "embedder.workers": ("必须在 0 到 64 之间（0 = 每个 CPU 核一个进程，1 = 不用额外进程）",
                         "must be between 0 and 64 (0 = one process per core, 1 = no extra process)"),
    "chunking.size": ("必须至少 50 个字符", "must be >= 50 characters"),
    "chunking.overlap": ("必须 >= 0 且小于 size 的一半", "must be >= 0 and less than half of size"),
    "chunking.min_chars": ("必须 >= 0 且小于 size", "must be >= 0 and less than size"),
    "retrieval.mode": ("请使用 dense、bm25 或 hybrid", "use dense, bm25 or hybrid"),
    "retrieval.k": ("必须在 1 到 100 之间", "must be between 1 and 100"),
    "retrieval.candidates": ("必须 >= k", "must be >= k"),
    "retrieval.fusion": ("请使用 zscore 或 rrf", "use zscore or rrf"),
    "retrieval.rrf_k": ("必须至少为 1", "must be >= 1"),
    "retrieval.dense_weight": ("必须 >= 0", "must be >= 0"),
    "retrieval.bm25_weight": ("必须 >= 0，且与 dense_weight 不能同时为 0",
                              "must be >= 0, and not 0 together with dense_weight"),
    "retrieval.mmr_lambda": ("必须在 0 到 1 之间", "must be between 0 and 1"),
    "retrieval.threshold": ("这是余弦相似度，必须在 -1 到 1 之间", "is a cosine similarity between -1 and 1"),
    "retrieval.relative_cutoff": ("必须在 0 到 1 之间", "must be between 0 and 1"),
    "ollama.url": ("必须以 http:// 或 https:// 开头", "must start with http:// or https://"),
    "ollama.model": ("不能为空", "must not be empty"),
    "ollama.timeout": ("必须大于 0", "must be > 0"),
    "ollama.connect_timeout": ("必须大于 0 秒", "must be > 0 seconds"),
    "ollama.answer_timeout": ("必须大于 0 秒", "must be > 0 seconds"),
    "ollama.max_answer_tokens": ("必须至少为 1", "must be >= 1"),
    "ollama.vram_gib": ("必须在 0 到 1024 GiB 之间（0 = 询问 nvidia-smi）", "must be between 0 and 1024 GiB (0 = ask nvidia-smi)"),
    "ollama.num_gpu": ("必须在 -1 到 1024 之间（GPU 上的层数；不设置则由 Ollama 按空闲显存决定）",
                       "must be between -1 and 1024 (layers on the GPU; leave it unset to let Ollama decide)"),
    "chat.mode": ("请使用 docs 或 chat", "use docs or chat"),
    "chat.num_ctx": ("必须至少为 512", "must be >= 512"),
    "chat.answer_reserve": ("必须大于 0 且小于 num_ctx 的一半", "must be > 0 and under half of num_ctx"),
    "ocr.low_confidence": ("必须在 0 到 1 之间", "must be between 0 and 1"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    # knowledge-base names
    "kb.name_too_long": (
        "知识库名称 “{name}…” 太长：{bytes} 字节（UTF-8），最多 {limit} 字节（约 {chars} 个汉字）。请换一个短一些的名称",
        "The knowledge base name '{name}...' is too long: {bytes} bytes in UTF-8, at most {limit} "
        "(about {chars} Chinese characters). Choose a shorter name"),
    "kb.name_empty": ("知识库名称是空的：请给知识库起个名字，例如 `--kb notes`",
                      "The knowledge base name is empty: give it a name, e.g. `--kb notes`"),
    "config.default_kb_invalid": ("默认知识库名称（[storage] default_kb，来自 {origin}）不可用：{reason}",
                                  "The default knowledge base name ([storage] default_kb, set in {origin}) cannot be "
                                  "used: {reason}"),
    # the settings file
    "config.file_missing": ("设置文件 {file} 不存在", "Settings file {file} does not exist"),
    "config.kb_config_missing": ("KB_CONFIG 指向 {file}，但这个文件不存在",
                                 "KB_CONFIG points to {file}, which does not exist"),
    "config.file_unreadable": ("无法读取设置文件 {file}：{reason}", "Cannot read settings file {file}: {reason}"),
    "config.file_not_utf8": (
        "设置文件 {file} 不是 UTF-8 编码（第 {line} 行附近）：请用 UTF-8 编码另存该文件",
        "Settings file {file} is not UTF-8 (near line {line}): save it with UTF-8 encoding"),
    "config.toml_invalid": ("设置文件 {file} 不是有效的 TOML：{reason}",
                            "Settings file {file} is not valid TOML: {reason}"),
    "config.not_a_section": ("{origin} 中的 [{section}] 必须是一个表（section），不能是单个值",
                             "[{section}] in {origin} must be a table (a section), not a single value"),
    "config.unknown_keys": ("{origin} 中有未知的设置 [{section}] {keys}：请检查拼写",
                            "Unknown setting(s) [{section}] {keys} in {origin}: check the spelling"),
    # values
    "config.not_number": _value("需要一个数字", "a number is needed"),
    "config.not_int": _value("需要一个整数", "a whole number is needed"),
    "config.not_finite": _value("需要一个有限的数字（不接受 NaN 或无穷大）",
                                "a finite number is needed (NaN and infinity are not accepted)"),
    "config.not_bool": _value("需要 true 或 false", "true or false is needed"),
    "config.not_text": _value("需要一段文字", "a text value is needed"),
    "config.not_a_path": _value("需要一个文件夹路径", "a folder path is needed"),
    "config.not_text_list": _value("需要一组文字，例如 [\"…\", \"…\"]（环境变量里用逗号分隔）",
                                   "a list of texts is needed, e.g. [\"…\", \"…\"] (comma-separated in an environment "
                                   "variable)"),
    "config.api_token_weak": (
        "[api] tokens 中的第 {n} 个令牌（来自 {origin}）不可用：至少要 {min} 个字符，且不能含空格或逗号。"
        "可以用 `python -c \"import secrets; print(secrets.token_urlsafe(32))\"` 生成一个",
        "API token number {n} in [api] tokens (set in {origin}) cannot be used: it needs at least {min} characters "
        "and no spaces or commas. Make one with `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`"),
    # the data folder
    "config.data_dir_not_a_folder": (
        "数据文件夹 {path}（来自 {origin}）无法使用：{blocker} 是一个文件，不是文件夹。"
        "请让 KB_DATA_DIR 或 [storage] data_dir 指向一个文件夹",
        "The data folder {path} (set in {origin}) cannot be used: {blocker} is a file, not a folder. "
        "Point KB_DATA_DIR or [storage] data_dir at a folder"),
    "config.data_dir_unreachable": (
        "数据文件夹 {path}（来自 {origin}）无法访问：{reason}",
        "The data folder {path} (set in {origin}) cannot be reached: {reason}"),
    "config.data_dir_unwritable": (
        "数据文件夹 {path} 无法写入（{blocker} 不可写：没有权限或磁盘是只读的）：请检查权限，"
        "或让 KB_DATA_DIR 指向可写的文件夹",
        "The data folder {path} cannot be written ({blocker} is not writable: no permission, or a read-only "
        "disk): check its permissions or point KB_DATA_DIR at a writable folder"),
}
MESSAGES.update({f"config.rule.{rule}": _value(zh, en) for rule, (zh, en) in _RULES.items()})
